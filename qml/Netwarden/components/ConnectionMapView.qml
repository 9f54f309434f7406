// Who talks to whom: a ConnectionMap drawn as programs on the left, hosts on the right
// and a cubic link (QtQuick Shapes) per program, host and verdict, as wide as its bytes
// allow; denied attempts dashed in the negative colour. Resting the pointer on a node
// highlights its links; a click opens its details (`programClicked`, `hostClicked`).
import QtQuick
import QtQuick.Controls as Controls
import QtQuick.Layouts
import QtQuick.Shapes
import org.kde.kirigami as Kirigami
import Netwarden
import Netwarden.Backend

Item {
    id: mapView

    required property ConnectionMap map
    // The node whose links are highlighted: a program key or a host ("" for none).
    property string highlighted: ""
    readonly property real rowHeight: Kirigami.Units.gridUnit * 1.8
    readonly property real columnWidth: Math.min(Kirigami.Units.gridUnit * 15, width * 0.34)
    readonly property real programStep: Math.min(rowHeight * 2, height / Math.max(1, map.programs.count))
    readonly property real hostStep: Math.min(rowHeight * 2, height / Math.max(1, map.hosts.count))

    signal programClicked(string programKey)
    signal hostClicked(string host)

    onHeightChanged: slotsTimer.restart()
    Component.onCompleted: slotsTimer.restart()

    Timer {  // the columns' room, once the size has settled
        id: slotsTimer
        interval: 50
        onTriggered: {
            const slots = Math.max(2, Math.floor(mapView.height / mapView.rowHeight))
            mapView.map.setSlots(slots, slots)
        }
    }

    Repeater {
        model: mapView.map.links
        delegate: Shape {
            id: link
            required property string program
            required property string host
            required property int fromSlot
            required property int toSlot
            required property real thickness
            required property bool denied
            required property double bytes
            required property int attempts
            readonly property bool lit: mapView.highlighted === program || mapView.highlighted === host

            objectName: "mapLink"
            anchors.fill: parent
            asynchronous: true  // triangulated on a worker thread, never inside a frame
            opacity: mapView.highlighted === "" ? 0.7 : lit ? 1 : 0.12
            ShapePath {
                objectName: "linkPath"
                strokeWidth: link.thickness
                strokeColor: link.denied ? Kirigami.Theme.negativeTextColor : Kirigami.Theme.highlightColor
                strokeStyle: link.denied ? ShapePath.DashLine : ShapePath.SolidLine
                dashPattern: [3, 2]
                fillColor: "transparent"
                capStyle: ShapePath.FlatCap
                startX: mapView.columnWidth
                startY: (link.fromSlot + 0.5) * mapView.programStep
                PathCubic {
                    x: mapView.width - mapView.columnWidth
                    y: (link.toSlot + 0.5) * mapView.hostStep
                    control1X: mapView.width / 2
                    control1Y: (link.fromSlot + 0.5) * mapView.programStep
                    control2X: mapView.width / 2
                    control2Y: (link.toSlot + 0.5) * mapView.hostStep
                }
            }
        }
    }

    component Node: Controls.ItemDelegate {
        id: node
        required property string key
        required property string name
        required property string detail
        required property string iconName
        required property int slot
        required property double total
        required property int denied
        required property bool grouped
        required property var view  // the map (an inline component does not see its ids)
        property real step: view.programStep
        property bool alignRight: false

        width: node.view.columnWidth
        height: Math.min(node.view.rowHeight, step)
        y: (slot + 0.5) * step - height / 2
        padding: Kirigami.Units.smallSpacing / 2
        highlighted: node.view.highlighted === key
        hoverEnabled: true
        onHoveredChanged: {
            if (hovered)
                node.view.highlighted = key
            else if (node.view.highlighted === key)
                node.view.highlighted = ""
        }
        Controls.ToolTip.visible: grouped && hovered
        Controls.ToolTip.text: qsTr("Type in the search field to see them")
        contentItem: RowLayout {
            layoutDirection: node.alignRight ? Qt.RightToLeft : Qt.LeftToRight
            spacing: Kirigami.Units.smallSpacing
            Kirigami.Icon {
                source: node.iconName
                implicitWidth: Kirigami.Units.iconSizes.small
                implicitHeight: Kirigami.Units.iconSizes.small
            }
            Controls.Label {
                objectName: "mapNodeName"
                Layout.fillWidth: true
                text: node.name
                font.italic: node.grouped
                elide: Text.ElideMiddle
                horizontalAlignment: node.alignRight ? Text.AlignRight : Text.AlignLeft
            }
            VerdictBadge { verdict: "deny"; visible: node.denied > 0 }
            Controls.Label {
                text: Format.bytes(node.total)
                font: Kirigami.Theme.smallFont
                opacity: 0.7
            }
        }
    }

    Repeater {
        model: mapView.map.programs
        delegate: Node {
            required property string programKey
            objectName: "mapProgram-" + name
            view: mapView
            x: 0
            onClicked: if (!grouped) mapView.programClicked(programKey)
        }
    }
    Repeater {
        model: mapView.map.hosts
        delegate: Node {
            objectName: "mapHost-" + name
            view: mapView
            x: mapView.width - width
            step: mapView.hostStep
            alignRight: true
            onClicked: if (!grouped) mapView.hostClicked(key)
        }
    }
}
