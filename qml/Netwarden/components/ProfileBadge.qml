// The profile a rule belongs to: "every profile", or its name, dimmed when that profile
// is not the active one (the rule is then not in force).
import QtQuick
import QtQuick.Controls as Controls
import org.kde.kirigami as Kirigami

Rectangle {
    id: badge

    property string profile: ""
    property bool inForce: true

    implicitWidth: label.implicitWidth + Kirigami.Units.largeSpacing
    implicitHeight: label.implicitHeight + Kirigami.Units.smallSpacing
    radius: height / 2
    color: profile === "" ? "transparent" : Qt.alpha(Kirigami.Theme.highlightColor, inForce ? 0.2 : 0.07)
    border.color: profile === "" ? Kirigami.Theme.disabledTextColor : Kirigami.Theme.highlightColor
    opacity: inForce ? 1 : 0.6

    Controls.Label {
        id: label
        objectName: "ruleProfile"
        anchors.centerIn: parent
        width: Math.min(implicitWidth, badge.width - Kirigami.Units.smallSpacing)
        elide: Text.ElideRight
        text: badge.profile === "" ? qsTr("every profile") : badge.profile
        font: Kirigami.Theme.smallFont
    }
}
