// One switch of the active profile from the history: when, to which profile and why
// ("Profile Work (network: Office)"), and from which. A delegate of the switch models: on
// the Profiles page and the History page.
import QtQuick
import QtQuick.Controls as Controls
import QtQuick.Layouts

RowLayout {
    id: switchRow

    required property string time
    required property string text
    required property string previous

    Controls.Label { text: switchRow.time; opacity: 0.7 }
    Controls.Label {
        objectName: "switchText"
        Layout.fillWidth: true
        text: switchRow.text
        elide: Text.ElideRight
    }
    Controls.Label { text: switchRow.previous; opacity: 0.7 }
}
