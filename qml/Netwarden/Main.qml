// The main window of Netwarden: a sidebar (global drawer) switches between the pages.
// The pages' models are made by the app (netwarden/main.py); a page whose model was not
// given is not offered. The Status page (the helper's state, or why it cannot be
// reached) is always there.
import QtQuick
import QtQuick.Layouts
import org.kde.kirigami as Kirigami
import Netwarden.Backend

Kirigami.ApplicationWindow {
    id: root

    required property HelperState helper
    property RulesModel rules: null
    property ConnectionsModel connections: null
    property ConnectionMap connectionMap: null
    property WorldMap worldMap: null
    property LocationDatabase locationDatabase: null
    property TrafficTimeline timeline: null
    property TrafficHistory history: null
    property SettingsModel settings: null
    property AlertModel alerts: null
    property BlocklistModel blocklists: null
    property SilentModel silent: null
    property ProfilesModel profiles: null
    property ProfileSwitchesModel profileSwitches: null
    property Preferences preferences: null
    property PromptModel prompts: null
    // Whether the desktop shows tray icons: without, closing this window quits the app.
    property bool hasTray: false
    // The page shown: "monitor", "rules", "history", "settings", "alerts", "blocklists",
    // "silent", "profiles" or "status".
    property string currentPage: ""

    title: qsTr("Netwarden")
    width: Kirigami.Units.gridUnit * 60
    height: Kirigami.Units.gridUnit * 36
    minimumWidth: Kirigami.Units.gridUnit * 24
    minimumHeight: Kirigami.Units.gridUnit * 18

    function showPage(name) {
        const pages = {
            "monitor": [monitorPage, root.connections],
            "rules": [rulesPage, root.rules],
            "history": [historyPage, root.history],
            "settings": [settingsPage, root.settings],
            "alerts": [alertsPage, root.alerts],
            "blocklists": [blocklistsPage, root.blocklists],
            "silent": [silentPage, root.silent],
            "profiles": [profilesPage, root.profiles],
            "status": [statusPage, root.helper],
        }
        const [component, model] = pages[name] || pages["status"]
        if (!model)
            return showPage("status")
        if (name === currentPage)
            return
        pageStack.clear()
        pageStack.push(component)
        currentPage = name
    }

    Component.onCompleted: showPage(root.connections ? "monitor" : "status")

    globalDrawer: Kirigami.GlobalDrawer {
        objectName: "globalDrawer"
        title: qsTr("Netwarden")
        titleIcon: "io.github.netwarden"
        modal: !root.wideScreen
        width: Kirigami.Units.gridUnit * 11
        collapsible: true
        showHeaderWhenCollapsed: true
        // The active profile, switched from anywhere (once there are profiles; until then
        // nothing, not even an empty space, is above the pages).
        topContent: [
            Loader {
                Layout.fillWidth: true
                active: root.profiles !== null && root.profiles.count > 0
                sourceComponent: ProfileSwitcher {
                    objectName: "drawerProfileSwitcher"
                    profiles: root.profiles
                }
            }
        ]
        actions: [
            Kirigami.Action {
                objectName: "monitorAction"
                text: qsTr("Network Monitor")
                icon.name: "network-connect"
                visible: root.connections !== null
                checked: root.currentPage === "monitor"
                onTriggered: root.showPage("monitor")
            },
            Kirigami.Action {
                objectName: "rulesAction"
                text: qsTr("Rules")
                icon.name: "view-list-details"
                visible: root.rules !== null
                checked: root.currentPage === "rules"
                onTriggered: root.showPage("rules")
            },
            Kirigami.Action {
                objectName: "alertsAction"
                text: root.alerts && root.alerts.openCount > 0
                      ? qsTr("Alerts (%1)").arg(root.alerts.openCount) : qsTr("Alerts")
                icon.name: "security-medium"
                visible: root.alerts !== null
                checked: root.currentPage === "alerts"
                onTriggered: root.showPage("alerts")
            },
            Kirigami.Action {
                objectName: "blocklistsAction"
                text: qsTr("Blocklists")
                icon.name: "view-filter"
                visible: root.blocklists !== null
                checked: root.currentPage === "blocklists"
                onTriggered: root.showPage("blocklists")
            },
            Kirigami.Action {
                objectName: "silentAction"
                text: root.settings && root.settings.silentMode !== "off"
                      ? qsTr("Silent Mode (on)") : qsTr("Silent Mode")
                icon.name: "notifications-disabled"
                visible: root.silent !== null && root.settings !== null
                checked: root.currentPage === "silent"
                onTriggered: root.showPage("silent")
            },
            Kirigami.Action {
                objectName: "profilesAction"
                text: root.profiles && root.profiles.active
                      ? qsTr("Profiles (%1)").arg(root.profiles.active) : qsTr("Profiles")
                icon.name: "view-list-tree"
                visible: root.profiles !== null
                checked: root.currentPage === "profiles"
                onTriggered: root.showPage("profiles")
            },
            Kirigami.Action {
                objectName: "historyAction"
                text: qsTr("History")
                icon.name: "view-statistics"
                visible: root.history !== null
                checked: root.currentPage === "history"
                onTriggered: root.showPage("history")
            },
            Kirigami.Action {
                objectName: "settingsAction"
                text: qsTr("Settings")
                icon.name: "configure"
                visible: root.settings !== null
                checked: root.currentPage === "settings"
                onTriggered: root.showPage("settings")
            },
            Kirigami.Action {
                objectName: "pausePromptsAction"
                text: qsTr("Pause Prompts")
                tooltip: qsTr("Apply the default action instead of asking, until resumed")
                icon.name: "media-playback-pause"
                visible: root.prompts !== null
                checkable: true
                checked: root.prompts !== null && root.prompts.paused
                onTriggered: root.prompts.setPaused(checked)
            },
            Kirigami.Action {
                objectName: "quitAction"
                text: root.hasTray ? qsTr("Quit") : qsTr("Quit (no more prompts)")
                icon.name: "application-exit"
                shortcut: StandardKey.Quit
                onTriggered: Qt.quit()
            },
            Kirigami.Action {
                objectName: "statusAction"
                text: root.helper.state === "running" ? qsTr("Status") : qsTr("Status: problem")
                icon.name: root.helper.state === "running" ? "security-high" : "dialog-warning"
                checked: root.currentPage === "status"
                onTriggered: root.showPage("status")
            }
        ]
    }

    Component { id: statusPage; StatusPage { helper: root.helper } }
    Component { id: monitorPage; MonitorPage { connections: root.connections; connectionMap: root.connectionMap; worldMap: root.worldMap; locationDatabase: root.locationDatabase; timeline: root.timeline; rules: root.rules; helper: root.helper } }
    Component { id: rulesPage; RulesPage { rules: root.rules; profiles: root.profiles; helper: root.helper } }
    Component { id: historyPage; HistoryPage { history: root.history; helper: root.helper } }
    Component { id: settingsPage; SettingsPage { settings: root.settings; locationDatabase: root.locationDatabase; preferences: root.preferences; helper: root.helper } }
    Component { id: alertsPage; AlertsPage { alerts: root.alerts; helper: root.helper } }
    Component { id: blocklistsPage; BlocklistsPage { blocklists: root.blocklists; helper: root.helper } }
    Component { id: silentPage; SilentPage { silent: root.silent; settings: root.settings; helper: root.helper } }
    Component { id: profilesPage; ProfilesPage { profiles: root.profiles; switches: root.profileSwitches; helper: root.helper } }

    // Leaving Silent Mode offers to review what would have asked meanwhile.
    property string lastSilentMode: "off"
    Connections {
        target: root.settings
        function onChanged() {
            const mode = root.settings.silentMode
            if (root.lastSilentMode !== "off" && mode === "off" && root.silent)
                root.showPassiveNotification(qsTr("Silent Mode is off: prompts are back."),
                                             "long", qsTr("Review what would have asked"),
                                             () => root.showPage("silent"))
            root.lastSilentMode = mode
        }
    }
}
