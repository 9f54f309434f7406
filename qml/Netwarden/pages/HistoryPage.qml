// Traffic over time (TrafficGraph): received and sent bytes per bucket over the last hour,
// day, week or month, for all programs or one; the range's top programs and hosts; the
// switches of the active profile in it; its latest connections, allowed and denied; and
// an export of the range's connections to a CSV or JSON file.
import QtQuick
import QtQuick.Controls as Controls
import QtQuick.Dialogs
import QtQuick.Layouts
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
        function onFailed(message) {
            message_.type = Kirigami.MessageType.Error
            message_.text = message
            message_.visible = true
        }
        function onExported(count, name) {
            message_.type = Kirigami.MessageType.Positive
            message_.text = Format.count(count, qsTr("%n connection written to %1"), qsTr("%n connections written to %1")).arg(name)
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

        TrafficGraph {
            Layout.fillWidth: true
            visible: page.connected
            timeline: page.history
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
            visible: page.connected && switchList.count > 0
            text: page.history.switchesTruncated
                  ? qsTr("The latest %1 profile switches (the range has more)").arg(switchList.count)
                  : qsTr("Profile switches")
        }
        Repeater {
            id: switchList
            objectName: "historySwitches"
            model: page.history.switches
            delegate: SwitchRow {
                objectName: "historySwitch"
                Layout.fillWidth: true
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
