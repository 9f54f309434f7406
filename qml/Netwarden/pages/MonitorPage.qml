// The Network Monitor: programs with their open connections (destinations, bytes,
// traffic bars, verdicts), busiest first, as a list, as a map of who talks to whom or as
// a world map of where the hosts are; a filter; a program's or a host's details on click. Below, the traffic diagram: dragging
// across it shows that period's connections from the history instead; a click clears it.
import QtQuick
import QtQuick.Controls as Controls
import QtQuick.Layouts
import org.kde.kirigami as Kirigami
import Netwarden
import Netwarden.Backend

Kirigami.Page {
    id: page

    required property ConnectionsModel connections
    property ConnectionMap connectionMap: null
    property WorldMap worldMap: null
    property LocationDatabase locationDatabase: null
    property TrafficTimeline timeline: null
    property RulesModel rules: null
    required property HelperState helper
    property bool showMap: false
    property bool showWorld: false
    readonly property bool connected: page.helper.state === "running"

    objectName: "monitorPage"
    title: qsTr("Network Monitor")
    padding: 0

    Component.onCompleted: {
        connections.startWatching()
        // the maps are the window's: a new page's search box starts empty, so do they
        if (connectionMap)
            connectionMap.filterText = ""
        if (worldMap)
            worldMap.filterText = ""
    }
    Component.onDestruction: {
        connections.showLive()
        connections.stopWatching()
    }

    function openProgram(programKey) {
        const row = connections.get(connections.rowOf(programKey))
        if (timeline && row.exe)
            timeline.exe = row.exe
        applicationWindow().pageStack.push(programPage, {"programKey": programKey})
    }

    function openHost(host) {
        applicationWindow().pageStack.push(hostPage, {"host": host})
    }

    function timeText(seconds) {
        return Qt.formatDateTime(new Date(seconds * 1000), "ddd d MMM hh:mm")
    }

    actions: [
        Kirigami.Action {
            text: qsTr("Refresh")
            icon.name: "view-refresh"
            shortcut: StandardKey.Refresh
            onTriggered: page.connections.refresh()
        },
        Kirigami.Action {
            objectName: "monitorMapAction"
            text: qsTr("Map")
            icon.name: "network-workgroup"
            tooltip: qsTr("Show who talks to whom: programs, the hosts they talk to, and their traffic")
            visible: page.connectionMap !== null
            checkable: true
            checked: page.showMap
            onTriggered: {
                page.showMap = checked
                page.showWorld = false
            }
        },
        Kirigami.Action {
            objectName: "monitorWorldAction"
            text: qsTr("World")
            icon.name: "globe"
            tooltip: qsTr("Show where in the world the hosts are, sized by their traffic")
            visible: page.worldMap !== null
            checkable: true
            checked: page.showWorld
            onTriggered: {
                page.showWorld = checked
                page.showMap = false
            }
        },
        Kirigami.Action {
            objectName: "monitorAllUsersAction"
            text: qsTr("All Users")
            icon.name: "system-users"
            tooltip: qsTr("Show every user's and the system's connections, not only your programs' (asks for an administrator)")
            checkable: true
            checked: page.connections.allUsers
            onTriggered: {
                page.connections.allUsers = checked
                if (page.timeline)
                    page.timeline.allUsers = checked
            }
        }
    ]

    Connections {
        target: page.connections
        function onFailed(message) {
            problem.text = message
            problem.visible = true
        }
        function onPeriodChanged() {  // back to live (from the message): no period shaded
            if (page.connections.periodSince === 0 && timelineLoader.item)
                timelineLoader.item.diagram.clearPeriod()
        }
    }

    Timer {  // the diagram follows the clock, unless a period of it is picked
        interval: 15000
        repeat: true
        running: page.timeline !== null && page.connections.periodSince === 0 && page.connected
        onTriggered: page.timeline.refresh()
    }

    Component {
        id: programPage
        ProgramPage { connections: page.connections; rules: page.rules }
    }
    Component {
        id: hostPage
        HostPage { connectionMap: page.connectionMap; rules: page.rules }
    }

    ColumnLayout {
        anchors.fill: parent
        spacing: 0

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
            visible: page.connected
            placeholderText: qsTr("Filter by program, user or destination…")
            onTextChanged: {
                view.filterText = text
                if (page.connectionMap)
                    page.connectionMap.filterText = text
                if (page.worldMap)
                    page.worldMap.filterText = text
            }
        }
        Kirigami.InlineMessage {
            objectName: "periodMessage"
            Layout.fillWidth: true
            Layout.margins: Kirigami.Units.smallSpacing
            visible: page.connections.periodSince > 0
            type: Kirigami.MessageType.Information
            text: (page.connections.periodTruncated ? qsTr("The latest connections from %1 to %2 (the period has more)")
                                                    : qsTr("Connections from %1 to %2"))
                  .arg(page.timeText(page.connections.periodSince)).arg(page.timeText(page.connections.periodUntil))
            actions: Kirigami.Action {
                objectName: "showLiveAction"
                text: qsTr("Back to live")
                icon.name: "media-playback-start"
                onTriggered: page.connections.showLive()
            }
        }

        NotConnected {
            Layout.fillWidth: true
            Layout.fillHeight: true
            helper: page.helper
        }

        Controls.ScrollView {
            Layout.fillWidth: true
            Layout.fillHeight: true
            visible: page.connected && !page.showMap && !page.showWorld
            ListView {
                id: list
                objectName: "programList"
                spacing: Kirigami.Units.smallSpacing
                model: SortFilterModel {
                    id: view
                    source: page.connections
                    filterRoles: ["program", "exe", "user", "destinationsText"]
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
                    onClicked: page.openProgram(programKey)

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
                                    text: Format.count(card.connectionCount, qsTr("%1 · %n connection"), qsTr("%1 · %n connections")).arg(card.user)
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

        ConnectionMapView {
            objectName: "connectionMap"
            Layout.fillWidth: true
            Layout.fillHeight: true
            Layout.margins: Kirigami.Units.largeSpacing
            visible: page.connected && page.showMap && page.connectionMap !== null
            map: page.connectionMap
            onProgramClicked: programKey => page.openProgram(programKey)
            onHostClicked: host => page.openHost(host)
        }

        Loader {  // made when first shown: the outline is drawn only for those who look
            objectName: "worldMapLoader"
            Layout.fillWidth: true
            Layout.fillHeight: true
            Layout.margins: Kirigami.Units.largeSpacing
            visible: page.connected && page.showWorld
            active: visible && page.worldMap !== null
            sourceComponent: WorldMapView {
                objectName: "worldMap"
                map: page.worldMap
                database: page.locationDatabase
                onHostClicked: host => page.openHost(host)
                onSettingsWanted: applicationWindow().showPage("settings")
            }
        }

        Kirigami.Separator { Layout.fillWidth: true; visible: timelineLoader.active }
        Loader {
            id: timelineLoader
            Layout.fillWidth: true
            active: page.connected && page.timeline !== null
            sourceComponent: ColumnLayout {
                readonly property alias diagram: diagram
                spacing: 0
                RowLayout {
                    Layout.margins: Kirigami.Units.smallSpacing
                    Repeater {
                        model: [["minutes", qsTr("5 min")], ["hour", qsTr("Hour")], ["day", qsTr("Day")],
                                ["week", qsTr("Week")], ["month", qsTr("Month")]]
                        delegate: Controls.Button {
                            required property var modelData
                            objectName: "timeline-" + modelData[0]
                            text: modelData[1]
                            flat: true
                            checkable: true
                            checked: page.timeline.range === modelData[0]
                            onClicked: page.timeline.range = modelData[0]
                        }
                    }
                    Item { Layout.fillWidth: true }
                    Controls.Label {
                        objectName: "timelineProgram"
                        text: page.timeline.exe ? qsTr("Traffic of %1").arg(page.timeline.exe)
                                                : qsTr("Traffic of all programs")
                        elide: Text.ElideMiddle
                        Layout.maximumWidth: Kirigami.Units.gridUnit * 20
                    }
                    Controls.ToolButton {
                        visible: page.timeline.exe !== ""
                        icon.name: "edit-clear"
                        text: qsTr("All programs")
                        display: Controls.AbstractButton.IconOnly
                        Controls.ToolTip.text: text
                        Controls.ToolTip.visible: hovered
                        onClicked: page.timeline.exe = ""
                    }
                }
                TrafficGraph {
                    id: diagram
                    Layout.fillWidth: true
                    Layout.leftMargin: Kirigami.Units.smallSpacing
                    Layout.rightMargin: Kirigami.Units.smallSpacing
                    timeline: page.timeline
                    selectable: true
                    graphHeight: Kirigami.Units.gridUnit * 8
                    graphName: "timelineGraph"
                    onPeriodPicked: (since, until) => page.connections.showPeriod(since / 1000, until / 1000)
                    onPeriodCleared: page.connections.showLive()
                }
            }
        }
    }
}
