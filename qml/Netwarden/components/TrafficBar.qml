// A horizontal bar: received (and sent) bytes as a share of the largest on the page.
import QtQuick
import org.kde.kirigami as Kirigami

Item {
    id: bar

    property real received: 0
    property real sent: 0
    property real largest: 1

    implicitWidth: Kirigami.Units.gridUnit * 8
    implicitHeight: Kirigami.Units.smallSpacing * 2

    Rectangle {
        anchors.fill: parent
        radius: height / 2
        color: Qt.alpha(Kirigami.Theme.textColor, 0.1)
    }
    Rectangle {
        objectName: "barFill"
        height: parent.height
        radius: height / 2
        width: parent.width * Math.min(1, (bar.received + bar.sent) / Math.max(1, bar.largest))
        color: Kirigami.Theme.highlightColor
    }
    Rectangle {
        height: parent.height
        radius: height / 2
        width: parent.width * Math.min(1, bar.sent / Math.max(1, bar.largest))
        color: Kirigami.Theme.neutralTextColor
    }
}
