// One connection from the history: when, verdict, (program,) destination, bytes. A
// delegate of RecentFlowsModel: on a program's details and on the History page.
import QtQuick
import QtQuick.Controls as Controls
import QtQuick.Layouts
import org.kde.kirigami as Kirigami
import Netwarden

RowLayout {
    id: flow

    required property string time
    required property string program
    required property string destination
    required property string verdict
    required property string decidedBy
    required property double bytesIn
    required property double bytesOut
    property bool showProgram: false

    Controls.Label { text: flow.time; opacity: 0.7 }
    VerdictBadge {
        verdict: flow.verdict
        Controls.ToolTip.text: qsTr("Decided by: %1").arg(flow.decidedBy)
        Controls.ToolTip.visible: badgeHover.hovered
        HoverHandler { id: badgeHover }
    }
    Controls.Label {
        objectName: "flowProgram"
        visible: flow.showProgram
        text: flow.program
        font.bold: true
    }
    Controls.Label {
        objectName: "flowDestination"
        Layout.fillWidth: true
        text: flow.destination
        elide: Text.ElideMiddle
    }
    Controls.Label {
        text: qsTr("↓ %1  ↑ %2").arg(Format.bytes(flow.bytesIn)).arg(Format.bytes(flow.bytesOut))
    }
}
