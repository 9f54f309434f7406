// Traffic over time (QtGraphs): received and sent bytes per bucket over the last hour,
// day, week or month, for all programs or one; the range's top programs and hosts; its
// latest connections, allowed and denied; and an export of the range's connections to a
// CSV or JSON file.
import QtQuick
import QtQuick.Controls as Controls
import QtQuick.Dialogs
import QtQuick.Layouts
import QtGraphs
import org.kde.kirigami as Kirigami
import Netwarden
import Netwarden.Backend

Kirigami.ScrollablePage {
    id: page

    required property TrafficHistory history
    required property HelperState helper
    readonly property bool connected: notConnected.connected

    objectName: "historyPage"
    title: qsTr("History")

    Component.onCompleted: history.refresh()

    function plot() {
        receivedSeries.clear()
        sentSeries.clear()
        for (const point of history.points) {
            receivedSeries.append(point.time, point.received)
            sentSeries.append(point.time, point.sent)
        }
    }

    // The point whose bucket holds `time` (ms), or null.
    function pointAt(time) {
        const points = history.points
        let found = null
        for (const point of points)
            if (point.time <= time)
                found = point
        return found
    }

    actions: [
        Kirigami.Action {
            text: qsTr("Refresh")
            icon.name: "view-refresh"
            shortcut: StandardKey.Refresh
            enabled: page.connected
            onTriggered: page.history.refresh()
        },
        Kirigami.Action {
            objectName: "historyAllUsersAction"
            text: qsTr("All Users")
            icon.name: "system-users"
            tooltip: qsTr("Show every user's and the system's traffic, not only your programs' (asks for an administrator)")
            checkable: true
            checked: page.history.allUsers
            enabled: page.connected
            onTriggered: page.history.allUsers = checked
        },
        Kirigami.Action {
            objectName: "exportAction"
            text: page.history.exporting ? qsTr("Exporting…") : qsTr("Export…")
            icon.name: "document-export"
            enabled: page.connected && !page.history.exporting
            onTriggered: exportDialog.open()
        }
    ]

    Connections {
        target: page.history
        function onPointsChanged() { page.plot() }
        function onFailed(message) {
            message_.type = Kirigami.MessageType.Error
            message_.text = message
            message_.visible = true
        }
        function onExported(count, name) {
            message_.type = Kirigami.MessageType.Positive
            message_.text = qsTr("%n connections written to %1", "", count).arg(name)
            message_.visible = true
        }
    }

    // The values of the point under the pointer.
    Controls.ToolTip {
        id: valueTip
        objectName: "graphTip"
        parent: graph
    }

    FileDialog {
        id: exportDialog
        objectName: "exportDialog"
        title: qsTr("Export the connections of this range")
        fileMode: FileDialog.SaveFile
        nameFilters: [qsTr("CSV (*.csv)"), qsTr("JSON (*.json)")]
        defaultSuffix: "csv"
        onAccepted: page.history.exportTo(selectedFile,
                                          selectedFile.toString().endsWith(".json") ? "json" : "csv")
    }

    header: ColumnLayout {
        spacing: 0
        Kirigami.InlineMessage {
            id: message_
            objectName: "historyMessage"
            Layout.fillWidth: true
            showCloseButton: true
        }
        RowLayout {
            objectName: "exportBusy"
            Layout.margins: Kirigami.Units.smallSpacing
            visible: page.history.exporting
            Controls.BusyIndicator {
                running: page.history.exporting
                Layout.preferredHeight: Kirigami.Units.iconSizes.medium
                Layout.preferredWidth: Kirigami.Units.iconSizes.medium
            }
            Controls.Label { text: qsTr("Writing the connections of this range…") }
        }
        RowLayout {
            Layout.margins: Kirigami.Units.smallSpacing
            visible: page.connected
            Repeater {
                model: [["hour", qsTr("Hour")], ["day", qsTr("Day")], ["week", qsTr("Week")],
                        ["month", qsTr("Month")]]
                delegate: Controls.Button {
                    required property var modelData
                    objectName: "range-" + modelData[0]
                    text: modelData[1]
                    checkable: true
                    checked: page.history.range === modelData[0]
                    onClicked: page.history.range = modelData[0]
                }
            }
            Item { Layout.fillWidth: true }
            Controls.Label { text: qsTr("Program:") }
            Controls.ComboBox {
                id: programBox
                objectName: "programBox"
                Layout.preferredWidth: Kirigami.Units.gridUnit * 14
                model: page.history.programChoices
                textRole: "name"
                valueRole: "exe"
                currentIndex: Math.max(0, indexOfValue(page.history.exe))
                onActivated: page.history.exe = currentValue
            }
        }
    }

    ColumnLayout {
        spacing: Kirigami.Units.largeSpacing

        NotConnected {
            id: notConnected
            Layout.fillWidth: true
            Layout.topMargin: Kirigami.Units.gridUnit * 4
            helper: page.helper
        }

        Controls.Label {
            objectName: "totals"
            visible: page.connected
            text: qsTr("Received %1, sent %2%3")
                  .arg(Format.bytes(page.history.totalReceived))
                  .arg(Format.bytes(page.history.totalSent))
                  .arg(page.history.exe ? qsTr(" by %1").arg(programBox.currentText) : "")
        }

        GraphsView {
            id: graph
            objectName: "trafficGraph"
            Layout.fillWidth: true
            Layout.preferredHeight: Kirigami.Units.gridUnit * 14
            visible: page.connected
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
                min: new Date(page.history.since)
                max: new Date(Math.max(page.history.until, page.history.since + 60000))
                tickInterval: page.history.tickCount
                subTickCount: 0
                labelFormat: page.history.tickFormat
            }
            axisY: ValueAxis {
                min: 0
                max: page.history.scaleMax
                tickInterval: page.history.scaleStep
                subTickCount: 0
                labelFormat: page.history.scaleStep < 1 ? "%.1f" : "%.0f"
                titleText: page.history.unit
                titleVisible: true
            }
            onHover: (seriesName, position, value) => {
                // Qt Graphs 6.8 counts a time axis's value from the axis's start.
                const point = page.pointAt(value.x < page.history.since ? page.history.since + value.x
                                                                        : value.x)
                if (!point) {
                    valueTip.visible = false
                    return
                }
                valueTip.x = position.x + Kirigami.Units.largeSpacing
                valueTip.y = position.y - valueTip.height - Kirigami.Units.largeSpacing
                valueTip.text = qsTr("%1: received %2, sent %3")
                                .arg(Qt.formatDateTime(new Date(point.time),
                                                       page.history.range === "month" ? "d MMM" : "ddd d MMM, hh:mm"))
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

        RowLayout {
            objectName: "graphLegend"
            visible: page.connected
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

        RowLayout {
            Layout.fillWidth: true
            visible: page.connected
            spacing: Kirigami.Units.largeSpacing
            TopList {
                objectName: "topPrograms"
                Layout.fillWidth: true
                Layout.alignment: Qt.AlignTop
                title: qsTr("Top programs")
                model: page.history.programs
            }
            TopList {
                objectName: "topHosts"
                Layout.fillWidth: true
                Layout.alignment: Qt.AlignTop
                title: qsTr("Top hosts")
                model: page.history.hosts
            }
        }

        Kirigami.ListSectionHeader {
            Layout.fillWidth: true
            visible: page.connected
            text: qsTr("Latest connections")
        }
        Controls.Label {
            visible: page.connected && flowList.count === 0
            text: qsTr("No connections in this range.")
            opacity: 0.7
        }
        Repeater {
            id: flowList
            objectName: "historyFlows"
            model: page.history.flows
            delegate: FlowRow {
                objectName: "historyFlow"
                Layout.fillWidth: true
                showProgram: true
            }
        }
    }
}
