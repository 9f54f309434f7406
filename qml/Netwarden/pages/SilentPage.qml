// Silent Mode: no prompts. The switch turns it on (allowing, or denying, what no rule
// covers without asking) or off; below, what would have asked in the last week, one row
// per program and destination, each with Allow and Deny, which make the rule a prompt's
// "this host, forever" would have made.
import QtQuick
import QtQuick.Controls as Controls
import QtQuick.Layouts
import org.kde.kirigami as Kirigami
import Netwarden
import Netwarden.Backend

Kirigami.ScrollablePage {
    id: page

    required property SilentModel silent
    required property SettingsModel settings
    required property HelperState helper

    objectName: "silentPage"
    title: qsTr("Silent Mode")

    Timer {  // the history is written every second: look again now and then
        interval: 3000
        repeat: true
        running: page.visible && page.helper.state === "running"
        triggeredOnStart: true
        onTriggered: page.silent.refresh()
    }

    actions: [
        Kirigami.Action {
            objectName: "silentAllUsersAction"
            text: qsTr("All Users")
            icon.name: "system-users"
            checkable: true
            checked: page.silent.allUsers
            onTriggered: page.silent.setAllUsers(checked)
        }
    ]

    header: ColumnLayout {
        spacing: 0
        visible: page.helper.state === "running"
        Kirigami.InlineMessage {
            id: problem
            objectName: "silentProblem"
            Layout.fillWidth: true
            type: Kirigami.MessageType.Error
            showCloseButton: true
        }
        RowLayout {
            Layout.margins: Kirigami.Units.largeSpacing
            Controls.Switch {
                objectName: "silentSwitch"
                text: qsTr("Silent Mode: do not ask")
                checked: page.settings.silentMode !== "off"
                onToggled: page.settings.setSilentMode(checked ? modeBox.currentValue : "off")
            }
            Controls.ComboBox {
                id: modeBox
                objectName: "silentModeBox"
                textRole: "text"
                valueRole: "value"
                model: [
                    { text: qsTr("Allow what no rule covers"), value: "allow" },
                    { text: qsTr("Deny what no rule covers"), value: "deny" }
                ]
                currentIndex: page.settings.silentMode === "deny" ? 1 : 0
                onActivated: if (page.settings.silentMode !== "off")
                                 page.settings.setSilentMode(currentValue)
            }
        }
    }

    Connections {
        target: page.silent
        function onFailed(message) {
            problem.text = message
            problem.visible = true
        }
    }
    Connections {
        target: page.settings
        function onFailed(message) {
            problem.text = message
            problem.visible = true
        }
    }

    ListView {
        id: list
        objectName: "silentList"
        model: page.silent
        spacing: Kirigami.Units.smallSpacing

        NotConnected {
            anchors.centerIn: parent
            width: parent.width - Kirigami.Units.gridUnit * 4
            helper: page.helper
        }

        Kirigami.PlaceholderMessage {
            anchors.centerIn: parent
            width: parent.width - Kirigami.Units.gridUnit * 4
            visible: list.count === 0 && page.helper.state === "running"
            icon.name: "notifications-disabled"
            text: qsTr("Nothing would have asked")
            explanation: page.settings.silentMode === "off"
                         ? qsTr("Turn Silent Mode on to work without prompts; what would have asked is listed here.")
                         : qsTr("Connections no rule covers show up here, with what they got.")
        }

        delegate: Controls.ItemDelegate {
            id: entry

            required property string entryKey
            required property string program
            required property string user
            required property string destination
            required property string verdict
            required property string lastTime
            required property int count
            required property bool canRule

            objectName: "silent-" + program + "-" + destination
            width: ListView.view.width

            contentItem: RowLayout {
                VerdictBadge { verdict: entry.verdict }
                ColumnLayout {
                    Layout.fillWidth: true
                    spacing: 0
                    Controls.Label {
                        objectName: "silentWhat"
                        Layout.fillWidth: true
                        elide: Text.ElideRight
                        text: qsTr("%1 to %2").arg(entry.program).arg(entry.destination)
                    }
                    Controls.Label {
                        objectName: "silentWhen"
                        Layout.fillWidth: true
                        elide: Text.ElideRight
                        font: Kirigami.Theme.smallFont
                        opacity: 0.7
                        text: (entry.user ? entry.user + " · " : "")
                              + Format.count(entry.count, qsTr("once, last %1"), qsTr("%n times, last %1")).arg(entry.lastTime)
                    }
                }
                Controls.Button {
                    objectName: "silentAllow"
                    text: qsTr("Allow")
                    icon.name: "dialog-ok"
                    enabled: entry.canRule
                    onClicked: page.silent.makeRule(entry.entryKey, "allow")
                }
                Controls.Button {
                    objectName: "silentDeny"
                    text: qsTr("Deny")
                    icon.name: "dialog-cancel"
                    enabled: entry.canRule
                    onClicked: page.silent.makeRule(entry.entryKey, "deny")
                }
            }
        }
    }
}
