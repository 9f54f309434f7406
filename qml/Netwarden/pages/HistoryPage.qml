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

    actions: [
        Kirigami.Action {
            text: qsTr("Refresh")
            icon.name: "view-refresh"
            shortcut: StandardKey.Refresh
            onTriggered: page.history.refresh()
        },
        Kirigami.Action {
            objectName: "historyAllUsersAction"
            text: qsTr("All Users")
            icon.name: "system-users"
            tooltip: qsTr("Show every user's and the system's traffic, not only your programs' (asks for an administrator)")
            checkable: true
            checked: page.history.allUsers
            onTriggered: page.history.allUsers = checked
        },
        Kirigami.Action {
            objectName: "exportAction"
            text: qsTr("Export…")
            icon.name: "document-export"
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
            message_.text = qsTr("%n connection(s) written to %1", "", count).arg(name)
            message_.visible = true
        }
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
            Layout.margins: Kirigami.Units.smallSpacing
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

        Controls.Label {
            objectName: "totals"
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
            theme: GraphsTheme {
                colorScheme: Kirigami.Theme.textColor.hslLightness > 0.5 ? GraphsTheme.ColorScheme.Dark
                                                                         : GraphsTheme.ColorScheme.Light
                backgroundVisible: false
                plotAreaBackgroundVisible: false
            }
            axisX: DateTimeAxis {
                min: new Date(page.history.since)
                max: new Date(Math.max(page.history.until, page.history.since + 60000))
                labelFormat: page.history.range === "hour" || page.history.range === "day" ? "hh:mm" : "dd MMM"
            }
            axisY: ValueAxis {
                min: 0
                max: Math.max(1, page.history.peak * 1.1)
                labelFormat: "%.1f"
                titleText: page.history.unit
                titleVisible: true
            }
            AreaSeries {
                name: qsTr("Received")
                color: Qt.alpha(Kirigami.Theme.highlightColor, 0.4)
                borderColor: Kirigami.Theme.highlightColor
                upperSeries: LineSeries { id: receivedSeries; objectName: "receivedSeries" }
            }
            LineSeries {
                id: sentSeries
                objectName: "sentSeries"
                name: qsTr("Sent")
                color: Kirigami.Theme.neutralTextColor
                width: 2
            }
        }

        RowLayout {
            Layout.fillWidth: true
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
            text: qsTr("Latest connections")
        }
        Controls.Label {
            visible: flowList.count === 0
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
