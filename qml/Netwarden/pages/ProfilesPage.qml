// Profiles: named rule sets (Home, Work, …), the active one, and the network that
// switches to each (a NetworkManager connection by its UUID, or a Wi-Fi network by its
// SSID). Add, rename, bind to a network, remove (with its rules, after asking), switch.
// Every change is an administrator's (polkit); a refusal is shown above the list. Below
// it, the recent switches the history recorded: to which profile, why, when, from which.
import QtQuick
import QtQuick.Controls as Controls
import QtQuick.Layouts
import org.kde.kirigami as Kirigami
import Netwarden
import Netwarden.Backend

Kirigami.ScrollablePage {
    id: page

    required property ProfilesModel profiles
    required property ProfileSwitchesModel switches
    required property HelperState helper

    title: qsTr("Profiles")

    actions: [
        Kirigami.Action {
            objectName: "addProfileAction"
            text: qsTr("Add Profile…")
            icon.name: "list-add"
            enabled: page.helper.state === "running"
            onTriggered: editor.edit("add", "", "", "")
        }
    ]

    function showProblem(message) {
        problem.text = message
        problem.visible = true
    }

    Connections {
        target: page.profiles
        function onFailed(message) { page.showProblem(message) }
    }
    Connections {
        target: page.switches
        function onFailed(message) { page.showProblem(message) }
    }

    header: ColumnLayout {
        spacing: 0
        visible: page.helper.state === "running"
        Kirigami.InlineMessage {
            id: problem
            objectName: "profilesProblem"
            Layout.fillWidth: true
            type: Kirigami.MessageType.Error
            showCloseButton: true
        }
        RowLayout {
            Layout.fillWidth: true
            Layout.margins: Kirigami.Units.largeSpacing
            Controls.Label {
                objectName: "currentNetwork"
                Layout.fillWidth: true
                wrapMode: Text.Wrap
                text: page.profiles.network.uuid
                      ? (page.profiles.network.ssid
                         ? qsTr("Connected to %1 (Wi-Fi “%2”)").arg(page.profiles.network.id).arg(page.profiles.network.ssid)
                         : qsTr("Connected to %1 (connection %2)").arg(page.profiles.network.id).arg(page.profiles.network.uuid))
                      : qsTr("NetworkManager reports no connection: profiles switch by hand only")
            }
            ProfileSwitcher {
                visible: page.profiles.count > 0
                profiles: page.profiles
            }
        }
    }

    ListView {
        id: list
        objectName: "profileList"
        model: page.profiles

        NotConnected {
            anchors.centerIn: parent
            width: parent.width - Kirigami.Units.gridUnit * 4
            helper: page.helper
        }

        Kirigami.PlaceholderMessage {
            anchors.centerIn: parent
            width: parent.width - Kirigami.Units.gridUnit * 4
            visible: list.count === 0 && page.helper.state === "running"
            icon.name: "view-list-details"
            text: qsTr("No profiles")
            explanation: qsTr("A profile is a set of rules in force only while it is active, such as Work or Public Wi-Fi: add one, give rules to it in their form, and let the network switch to it.")
        }

        footer: ColumnLayout {
            width: list.width
            spacing: 0
            visible: page.helper.state === "running" && page.switches.count > 0
            Kirigami.ListSectionHeader {
                Layout.fillWidth: true
                text: qsTr("Recent switches")
            }
            Repeater {
                objectName: "profileSwitches"
                model: page.switches
                delegate: SwitchRow {
                    objectName: "profileSwitch"
                    Layout.fillWidth: true
                    Layout.leftMargin: Kirigami.Units.largeSpacing
                    Layout.rightMargin: Kirigami.Units.largeSpacing
                }
            }
        }

        delegate: Controls.ItemDelegate {
            id: row

            required property string name
            required property string uuid
            required property string ssid
            required property string claims
            required property int rules
            required property bool active

            objectName: "profile-" + name
            width: ListView.view.width

            contentItem: RowLayout {
                Kirigami.Icon {
                    source: row.active ? "checkmark" : ""
                    implicitWidth: Kirigami.Units.iconSizes.smallMedium
                    implicitHeight: Kirigami.Units.iconSizes.smallMedium
                }
                ColumnLayout {
                    Layout.fillWidth: true
                    spacing: 0
                    Controls.Label {
                        objectName: "profileName"
                        Layout.fillWidth: true
                        text: row.active ? qsTr("%1 (active)").arg(row.name) : row.name
                        font.bold: true
                        elide: Text.ElideRight
                    }
                    Controls.Label {
                        objectName: "profileDetails"
                        Layout.fillWidth: true
                        text: [row.claims ? qsTr("switches on %1").arg(row.claims) : qsTr("switched by hand"),
                               Format.count(row.rules, qsTr("%n rule"), qsTr("%n rules"))].join(" · ")
                        font: Kirigami.Theme.smallFont
                        opacity: 0.7
                        elide: Text.ElideRight
                    }
                }
                Controls.Button {
                    objectName: "useProfileButton"
                    text: qsTr("Use")
                    enabled: !row.active
                    onClicked: page.profiles.use(row.name)
                }
                Controls.ToolButton {
                    objectName: "networkProfileButton"
                    icon.name: "network-wireless"
                    text: qsTr("Network…")
                    display: Controls.AbstractButton.IconOnly
                    Controls.ToolTip.text: text
                    Controls.ToolTip.visible: hovered
                    onClicked: editor.edit("network", row.name, row.uuid, row.ssid)
                }
                Controls.ToolButton {
                    objectName: "renameProfileButton"
                    icon.name: "edit-rename"
                    text: qsTr("Rename…")
                    display: Controls.AbstractButton.IconOnly
                    Controls.ToolTip.text: text
                    Controls.ToolTip.visible: hovered
                    onClicked: editor.edit("rename", row.name, row.uuid, row.ssid)
                }
                Controls.ToolButton {
                    objectName: "removeProfileButton"
                    icon.name: "edit-delete"
                    text: qsTr("Remove")
                    display: Controls.AbstractButton.IconOnly
                    Controls.ToolTip.text: text
                    Controls.ToolTip.visible: hovered
                    onClicked: {
                        if (row.rules === 0)
                            return page.profiles.remove(row.name, false)
                        removal.name = row.name
                        removal.rules = row.rules
                        removal.open()
                    }
                }
            }
        }
    }

    // Adding a profile, renaming one, or choosing the network that switches to it.
    Kirigami.Dialog {
        id: editor
        objectName: "profileEditor"

        property string mode: "add"  // "add", "rename" or "network"
        property string profile: ""  // the profile edited ("" when adding)
        readonly property bool naming: mode !== "network"
        readonly property bool networking: mode !== "rename"
        readonly property var kinds: ["", "ssid", "uuid"]

        function edit(how, name, uuid, ssid) {
            mode = how
            profile = name
            nameField.text = name
            kindField.currentIndex = ssid ? 1 : uuid ? 2 : 0
            valueField.text = ssid || uuid
            open()
        }

        function save() {
            const kind = kinds[kindField.currentIndex]
            const uuid = kind === "uuid" ? valueField.text.trim() : ""
            const ssid = kind === "ssid" ? valueField.text : ""
            if (mode === "add")
                page.profiles.add(nameField.text.trim(), uuid, ssid)
            else if (mode === "rename")
                page.profiles.rename(profile, nameField.text.trim())
            else
                page.profiles.claim(profile, uuid, ssid)
            close()
        }

        title: mode === "add" ? qsTr("Add Profile")
               : mode === "rename" ? qsTr("Rename %1").arg(profile) : qsTr("Network of %1").arg(profile)
        padding: Kirigami.Units.largeSpacing
        preferredWidth: Kirigami.Units.gridUnit * 24
        customFooterActions: [
            Kirigami.Action {
                objectName: "saveProfileAction"
                text: editor.mode === "add" ? qsTr("Add") : qsTr("Save")
                icon.name: "document-save"
                onTriggered: editor.save()
            },
            Kirigami.Action {
                text: qsTr("Cancel")
                icon.name: "dialog-cancel"
                onTriggered: editor.close()
            }
        ]

        Kirigami.FormLayout {
            Controls.TextField {
                id: nameField
                objectName: "profileNameField"
                visible: editor.naming
                Kirigami.FormData.label: qsTr("Name:")
                placeholderText: qsTr("Work")
                onAccepted: editor.save()
            }
            Controls.ComboBox {
                id: kindField
                objectName: "profileKindField"
                visible: editor.networking
                Kirigami.FormData.label: qsTr("Switch to it:")
                model: [qsTr("By hand only"), qsTr("On a Wi-Fi network (SSID)"),
                        qsTr("On a NetworkManager connection (UUID)")]
            }
            RowLayout {
                visible: editor.networking && kindField.currentIndex > 0
                Kirigami.FormData.label: kindField.currentIndex === 1 ? qsTr("SSID:") : qsTr("UUID:")
                Controls.TextField {
                    id: valueField
                    objectName: "profileNetworkField"
                    Layout.fillWidth: true
                    onAccepted: editor.save()
                }
                Controls.Button {
                    objectName: "thisNetworkButton"
                    text: qsTr("This network")
                    enabled: kindField.currentIndex === 1 ? !!page.profiles.network.ssid : !!page.profiles.network.uuid
                    onClicked: valueField.text = kindField.currentIndex === 1
                               ? page.profiles.network.ssid : page.profiles.network.uuid
                }
            }
        }
    }

    Kirigami.PromptDialog {
        id: removal
        objectName: "profileRemoval"

        property string name: ""
        property int rules: 0

        title: qsTr("Remove %1?").arg(name)
        subtitle: Format.count(rules, qsTr("Its rule is removed with it."), qsTr("Its %n rules are removed with it."))
        customFooterActions: [
            Kirigami.Action {
                objectName: "removeWithRulesAction"
                text: qsTr("Remove with Its Rules")
                icon.name: "edit-delete"
                onTriggered: {
                    page.profiles.remove(removal.name, true)
                    removal.close()
                }
            },
            Kirigami.Action {
                text: qsTr("Cancel")
                icon.name: "dialog-cancel"
                onTriggered: removal.close()
            }
        ]
    }
}
