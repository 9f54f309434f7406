// A titled list of names with their bytes and a bar each (top programs, top hosts).
import QtQuick
import QtQuick.Controls as Controls
import QtQuick.Layouts
import org.kde.kirigami as Kirigami
import Netwarden

ColumnLayout {
    id: topList

    property string title
    property var model

    spacing: Kirigami.Units.smallSpacing

    Kirigami.ListSectionHeader { text: topList.title; Layout.fillWidth: true }
    Controls.Label {
        visible: repeater.count === 0
        text: qsTr("Nothing in this range")
        opacity: 0.7
    }
    Repeater {
        id: repeater
        model: topList.model
        delegate: ColumnLayout {
            required property string name
            required property string exe
            required property double bytesIn
            required property double bytesOut
            required property double total
            objectName: "top-" + name
            Layout.fillWidth: true
            spacing: 0
            RowLayout {
                Controls.Label {
                    objectName: "topName"
                    Layout.fillWidth: true
                    text: name
                    elide: Text.ElideMiddle
                }
                Controls.Label { text: qsTr("↓ %1  ↑ %2").arg(Format.bytes(bytesIn)).arg(Format.bytes(bytesOut)) }
            }
            TrafficBar {
                Layout.fillWidth: true
                received: bytesIn
                sent: bytesOut
                largest: topList.model ? topList.model.largest : 1
            }
        }
    }
}
