// A small coloured label saying "allow" or "deny" (or any other short word).
import QtQuick
import QtQuick.Controls as Controls
import org.kde.kirigami as Kirigami

Rectangle {
    id: badge

    property string verdict: "allow"

    readonly property color tint: verdict === "allow" ? Kirigami.Theme.positiveTextColor
                                  : verdict === "deny" ? Kirigami.Theme.negativeTextColor
                                  : Kirigami.Theme.neutralTextColor

    implicitWidth: label.implicitWidth + Kirigami.Units.largeSpacing
    implicitHeight: label.implicitHeight + Kirigami.Units.smallSpacing
    radius: height / 2
    color: Qt.alpha(tint, 0.15)
    border.color: tint

    Controls.Label {
        id: label
        anchors.centerIn: parent
        text: badge.verdict === "allow" ? qsTr("allow")
              : badge.verdict === "deny" ? qsTr("deny") : badge.verdict
        color: badge.tint
        font: Kirigami.Theme.smallFont
    }
}
