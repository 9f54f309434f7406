// Received (area) and sent (line) bytes over a TrafficTimeline's range (QtGraphs), in the
// Kirigami theme's colours, with round local ticks, the values of the point under the
// pointer and a legend. With `selectable`, dragging across it picks a period
// (`periodPicked`, in ms) and shows it shaded; a click clears it (`periodCleared`).
import QtQuick
import QtQuick.Controls as Controls
import QtQuick.Layouts
import QtGraphs
import org.kde.kirigami as Kirigami
import Netwarden
import Netwarden.Backend

ColumnLayout {
    id: diagram

    required property QtObject timeline  // a TrafficTimeline or a TrafficHistory
    property bool selectable: false
    property real graphHeight: Kirigami.Units.gridUnit * 14
    property string graphName: "trafficGraph"  // the GraphsView's objectName
    // The period picked (ms since the epoch; 0 when none).
    property real pickedSince: 0
    property real pickedUntil: 0

    signal periodPicked(real since, real until)
    signal periodCleared()

    spacing: Kirigami.Units.smallSpacing

    function plot() {
        receivedSeries.clear()
        sentSeries.clear()
        for (const point of timeline.points) {
            receivedSeries.append(point.time, point.received)
            sentSeries.append(point.time, point.sent)
        }
    }

    // The point whose bucket holds `time` (ms), or null.
    function pointAt(time) {
        let found = null
        for (const point of timeline.points)
            if (point.time <= time)
                found = point
        return found
    }

    // The x (in the graph) of the time axis's start and end: the centres of its first and
    // last tick labels (Qt Graphs 6.8 does not tell where its plot area is).
    function axisEnds() {
        const first = Qt.formatDateTime(new Date(timeline.since), timeline.tickFormat)
        const last = Qt.formatDateTime(new Date(timeline.until), timeline.tickFormat)
        const ends = [0, graph.width]
        const walk = item => {
            if (item.visible && typeof item.text === "string" && (item.text === first || item.text === last)) {
                const centre = item.mapToItem(graph, item.width / 2, 0).x
                ends[item.text === first ? 0 : 1] = centre
            }
            for (let i = 0; i < item.children.length; i++)
                walk(item.children[i])
        }
        walk(graph)
        return ends
    }

    function timeAt(x, ends) {
        const share = Math.max(0, Math.min(1, (x - ends[0]) / Math.max(1, ends[1] - ends[0])))
        return timeline.since + share * (timeline.until - timeline.since)
    }

    function xOf(time, ends) {
        return ends[0] + (time - timeline.since) / Math.max(1, timeline.until - timeline.since) * (ends[1] - ends[0])
    }

    function clearPeriod() {
        if (pickedSince === 0)
            return
        pickedSince = 0
        pickedUntil = 0
        periodCleared()
    }

    Connections {
        target: diagram.timeline
        function onPointsChanged() { diagram.plot() }
        function onChanged() { diagram.clearPeriod() }  // another range or program
    }
    Component.onCompleted: plot()

    // The values of the point under the pointer.
    Controls.ToolTip {
        id: valueTip
        objectName: "graphTip"
        parent: graph
    }

    Item {  // the graph, and the period picked over it
        Layout.fillWidth: true
        Layout.preferredHeight: diagram.graphHeight

        GraphsView {
            id: graph
            objectName: diagram.graphName
            anchors.fill: parent
            // The Breeze palette, not the graph's own: faint grid, text-coloured labels.
            theme: GraphsTheme {
                colorScheme: Kirigami.Theme.textColor.hslLightness > 0.5 ? GraphsTheme.ColorScheme.Dark
                                                                         : GraphsTheme.ColorScheme.Light
                backgroundVisible: false
                plotAreaBackgroundVisible: false
                labelTextColor: Kirigami.Theme.disabledTextColor
                labelBackgroundVisible: false
                grid.mainColor: Qt.alpha(Kirigami.Theme.textColor, 0.12)
                grid.subColor: "transparent"
                grid.mainWidth: 1
                axisX.mainColor: Qt.alpha(Kirigami.Theme.textColor, 0.3)
                axisX.subColor: "transparent"
                axisX.labelTextColor: Kirigami.Theme.disabledTextColor
                axisY.mainColor: Qt.alpha(Kirigami.Theme.textColor, 0.3)
                axisY.subColor: "transparent"
                axisY.labelTextColor: Kirigami.Theme.disabledTextColor
                axisXLabelFont: Kirigami.Theme.smallFont
                axisYLabelFont: Kirigami.Theme.smallFont
            }
            axisX: DateTimeAxis {
                min: new Date(diagram.timeline.since)
                max: new Date(Math.max(diagram.timeline.until, diagram.timeline.since + 60000))
                tickInterval: diagram.timeline.tickCount
                subTickCount: 0
                labelFormat: diagram.timeline.tickFormat
            }
            axisY: ValueAxis {
                min: 0
                max: diagram.timeline.scaleMax
                tickInterval: diagram.timeline.scaleStep
                subTickCount: 0
                labelFormat: diagram.timeline.scaleStep < 1 ? "%.1f" : "%.0f"
                titleText: diagram.timeline.unit
                titleVisible: true
            }
            onHover: (seriesName, position, value) => {
                // Qt Graphs 6.8 counts a time axis's value from the axis's start.
                const since = diagram.timeline.since
                const point = diagram.pointAt(value.x < since ? since + value.x : value.x)
                if (!point) {
                    valueTip.visible = false
                    return
                }
                valueTip.x = position.x + Kirigami.Units.largeSpacing
                valueTip.y = position.y - valueTip.height - Kirigami.Units.largeSpacing
                valueTip.text = qsTr("%1: received %2, sent %3")
                                .arg(Qt.formatDateTime(new Date(point.time),
                                                       diagram.timeline.range === "month" ? "d MMM" : "ddd d MMM, hh:mm"))
                                .arg(Format.bytes(point.receivedBytes)).arg(Format.bytes(point.sentBytes))
                valueTip.visible = true
            }
            onHoverExit: valueTip.visible = false

            AreaSeries {
                id: receivedArea
                name: qsTr("Received")
                hoverable: true
                color: Qt.alpha(Kirigami.Theme.highlightColor, 0.35)
                borderColor: Kirigami.Theme.highlightColor
                borderWidth: 2
                upperSeries: LineSeries { id: receivedSeries; objectName: "receivedSeries" }
            }
            LineSeries {
                id: sentSeries
                objectName: "sentSeries"
                name: qsTr("Sent")
                hoverable: true
                color: Kirigami.Theme.neutralTextColor
                width: 2
            }
        }

        // The period picked, or being picked.
        Rectangle {
            id: band
            objectName: "pickedPeriod"
            visible: width > 0 && (picker.active || diagram.pickedSince > 0)
            y: 0
            height: graph.height
            color: Qt.alpha(Kirigami.Theme.highlightColor, 0.2)
            border.color: Kirigami.Theme.highlightColor
        }

        MouseArea {
            id: picker
            property real startX: 0
            property var ends: [0, 1]
            property bool active: false
            anchors.fill: parent
            enabled: diagram.selectable
            preventStealing: true
            onPressed: mouse => {
                ends = diagram.axisEnds()
                startX = mouse.x
                active = true
                band.x = mouse.x
                band.width = 0
            }
            onPositionChanged: mouse => {
                band.x = Math.min(startX, mouse.x)
                band.width = Math.abs(mouse.x - startX)
            }
            onReleased: mouse => {
                active = false
                if (Math.abs(mouse.x - startX) < Kirigami.Units.smallSpacing) {
                    band.width = 0
                    diagram.clearPeriod()
                    return
                }
                const a = diagram.timeAt(Math.min(startX, mouse.x), ends)
                const b = diagram.timeAt(Math.max(startX, mouse.x), ends)
                band.x = diagram.xOf(a, ends)
                band.width = diagram.xOf(b, ends) - band.x
                diagram.pickedSince = a
                diagram.pickedUntil = b
                diagram.periodPicked(a, b)
            }
        }
    }

    RowLayout {
        objectName: "graphLegend"
        Layout.alignment: Qt.AlignHCenter
        spacing: Kirigami.Units.largeSpacing
        Repeater {
            model: [[qsTr("Received"), receivedArea.borderColor], [qsTr("Sent"), sentSeries.color]]
            delegate: RowLayout {
                required property var modelData
                spacing: Kirigami.Units.smallSpacing
                Rectangle {
                    implicitWidth: Kirigami.Units.gridUnit
                    implicitHeight: Kirigami.Units.smallSpacing
                    radius: height / 2
                    color: modelData[1]
                }
                Controls.Label {
                    objectName: "legendLabel"
                    text: modelData[0]
                }
            }
        }
    }
}
