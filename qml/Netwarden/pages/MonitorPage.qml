// The live connection map: programs with their open connections (destinations, bytes,
// traffic bars, verdicts), busiest first; a filter; a program's details on click.
import QtQuick
import QtQuick.Controls as Controls
import QtQuick.Layouts
import org.kde.kirigami as Kirigami
import Netwarden
import Netwarden.Backend

Kirigami.ScrollablePage {
    id: page

    required property ConnectionsModel connections
    property RulesModel rules: null
    required property HelperState helper

    title: qsTr("Network Monitor")

    Component.onCompleted: connections.startWatching()
    Component.onDestruction: connections.stopWatching()

    actions: [
        Kirigami.Action {
            text: qsTr("Refresh")
            icon.name: "view-refresh"
            shortcut: StandardKey.Refresh
            onTriggered: page.connections.refresh()
        },
        Kirigami.Action {
            objectName: "monitorAllUsersAction"
            text: qsTr("All Users")
            icon.name: "system-users"
            tooltip: qsTr("Show every user's and the system's connections, not only your programs' (asks for an administrator)")
            checkable: true
            checked: page.connections.allUsers
            onTriggered: page.connections.allUsers = checked
        }
    ]

    Connections {
        target: page.connections
        function onFailed(message) {
            problem.text = message
            problem.visible = true
        }
    }

    Component {
        id: programPage
        ProgramPage { connections: page.connections; rules: page.rules }
    }

    header: ColumnLayout {
        spacing: 0
        visible: page.helper.state === "running"
        Kirigami.InlineMessage {
            id: problem
            objectName: "monitorProblem"
            Layout.fillWidth: true
            type: Kirigami.MessageType.Error
            showCloseButton: true
        }
        Kirigami.SearchField {
            objectName: "monitorFilter"
            Layout.fillWidth: true
            Layout.margins: Kirigami.Units.smallSpacing
            placeholderText: qsTr("Filter by program, user or destination…")
            onTextChanged: view.filterText = text
        }
    }

    ListView {
        id: list
        objectName: "programList"
        spacing: Kirigami.Units.smallSpacing
        model: SortFilterModel {
            id: view
            source: page.connections
            filterRoles: ["program", "exe", "user", "destinationsText"]
        }

        NotConnected {
            anchors.centerIn: parent
            width: parent.width - Kirigami.Units.gridUnit * 4
            helper: page.helper
        }

        Kirigami.PlaceholderMessage {
            anchors.centerIn: parent
            width: parent.width - Kirigami.Units.gridUnit * 4
            visible: list.count === 0 && page.helper.state === "running"
            icon.name: "network-connect"
            text: page.connections.count === 0 ? qsTr("No open connections")
                                               : qsTr("No program matches the filter")
        }

        delegate: Controls.ItemDelegate {
            id: card

            required property string programKey
            required property string program
            required property string iconName
            required property string exe
            required property string user
            required property var destinations
            required property int connectionCount
            required property double bytesIn
            required property double bytesOut
            required property double rateIn
            required property double rateOut
            required property int allowed
            required property int denied

            objectName: "program-" + program
            width: ListView.view.width
            onClicked: applicationWindow().pageStack.push(programPage, {"programKey": programKey})

            contentItem: RowLayout {
                spacing: Kirigami.Units.largeSpacing
                Kirigami.Icon {
                    Layout.alignment: Qt.AlignTop
                    source: card.iconName
                    implicitWidth: Kirigami.Units.iconSizes.medium
                    implicitHeight: Kirigami.Units.iconSizes.medium
                }
                ColumnLayout {
                    Layout.fillWidth: true
                    spacing: Kirigami.Units.smallSpacing
                    RowLayout {
                        Controls.Label {
                            objectName: "programName"
                            text: card.program
                            font.bold: true
                        }
                        Controls.Label {
                            Layout.fillWidth: true
                            text: qsTr("%1 · %n connections", "", card.connectionCount).arg(card.user)
                            opacity: 0.7
                            elide: Text.ElideRight
                        }
                        VerdictBadge { verdict: "allow"; visible: card.allowed > 0 }
                        VerdictBadge { verdict: "deny"; visible: card.denied > 0 }
                        Controls.Label {
                            objectName: "programBytes"
                            text: qsTr("↓ %1  ↑ %2").arg(Format.bytes(card.bytesIn)).arg(Format.bytes(card.bytesOut))
                        }
                    }
                    TrafficBar {
                        Layout.fillWidth: true
                        received: card.bytesIn
                        sent: card.bytesOut
                        largest: page.connections.largest
                    }
                    Controls.Label {
                        visible: card.rateIn + card.rateOut > 0
                        text: qsTr("now ↓ %1  ↑ %2").arg(Format.rate(card.rateIn)).arg(Format.rate(card.rateOut))
                        font: Kirigami.Theme.smallFont
                    }
                    Repeater {
                        model: card.destinations
                        delegate: RowLayout {
                            required property var modelData
                            Layout.leftMargin: Kirigami.Units.largeSpacing
                            VerdictBadge { verdict: modelData.verdict }
                            Controls.Label {
                                objectName: "destination"
                                Layout.fillWidth: true
                                text: modelData.count > 1 ? qsTr("%1 (×%2)").arg(modelData.text).arg(modelData.count)
                                                          : modelData.text
                                elide: Text.ElideMiddle
                            }
                            Controls.Label {
                                text: qsTr("↓ %1  ↑ %2").arg(Format.bytes(modelData.bytesIn)).arg(Format.bytes(modelData.bytesOut))
                                opacity: 0.7
                            }
                        }
                    }
                }
            }
        }
    }
}
