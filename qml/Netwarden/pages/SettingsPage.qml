// This app's own preferences (they apply at once), then the helper's settings: changing
// those needs an administrator (polkit asks for a password); a refusal is shown as it
// came, and the stored values come back.
import QtQuick
import QtQuick.Controls as Controls
import QtQuick.Layouts
import org.kde.kirigami as Kirigami
import org.kde.kirigamiaddons.formcard as FormCard
import Netwarden
import Netwarden.Backend

FormCard.FormCardPage {
    id: page

    required property SettingsModel settings
    property LocationDatabase locationDatabase: null
    required property Preferences preferences
    required property HelperState helper

    objectName: "settingsPage"
    title: qsTr("Settings")

    // The stored values the form last showed: a field the user has not touched follows
    // the helper's settings when they change (another window, another administrator);
    // a field being edited keeps the edit until Save or Revert.
    property var shown: ({})

    function stored() {
        return {
            "default_action": page.settings.defaultAction,
            "prompt_timeout": page.settings.promptTimeout,
            "fail_closed": page.settings.failClosed,
            "history_days": page.settings.historyDays,
            "trust_package_updates": page.settings.trustPackageUpdates,
            "forwarded": page.settings.forwarded,
            "dns_to_resolvers": page.settings.dnsToResolvers,
            "kernel_verdicts": page.settings.kernelVerdicts,
            "locations": page.settings.locations,
            "locations_source": page.settings.locationsSource,
        }
    }

    function edited() {
        return {
            "default_action": defaultActionField.currentValue,
            "prompt_timeout": timeoutField.value,
            "fail_closed": failClosedField.checked,
            "history_days": historyDaysField.value,
            "trust_package_updates": trustUpdatesField.checked,
            "forwarded": forwardedField.currentValue,
            "dns_to_resolvers": dnsField.checked,
            "kernel_verdicts": kernelVerdictsField.checked,
            "locations": locationsField.checked,
            "locations_source": locationsSourceField.text,
        }
    }

    // Show the stored values: in every field (`all`), or in the untouched ones.
    function reset(all) {
        const now = page.stored(), form = page.edited()
        const keep = key => !all && form[key] !== page.shown[key]
        const value = key => keep(key) ? form[key] : now[key]
        defaultActionField.currentIndex = value("default_action") === "deny" ? 1 : 0
        timeoutField.value = value("prompt_timeout")
        failClosedField.checked = value("fail_closed")
        historyDaysField.value = value("history_days")
        trustUpdatesField.checked = value("trust_package_updates")
        forwardedField.currentIndex = forwardedField.indexOfValue(value("forwarded"))
        dnsField.checked = value("dns_to_resolvers")
        kernelVerdictsField.checked = value("kernel_verdicts")
        locationsField.checked = value("locations")
        locationsSourceField.text = value("locations_source")
        page.shown = now
    }

    Component.onCompleted: reset(true)

    Connections {
        target: page.settings
        function onChanged() { page.reset(false) }
        function onFailed(message) {
            problem.text = message
            problem.visible = true
            saved.visible = false
            page.reset(true)
        }
        function onSaved() {
            problem.visible = false
            saved.visible = true
        }
    }

    Connections {
        target: page.locationDatabase
        function onFailed(message) {
            problem.text = message
            problem.visible = true
        }
    }

    Kirigami.InlineMessage {
        id: problem
        objectName: "settingsProblem"
        Layout.fillWidth: true
        Layout.margins: Kirigami.Units.largeSpacing
        type: Kirigami.MessageType.Error
        showCloseButton: true
    }
    Kirigami.InlineMessage {
        id: saved
        objectName: "settingsSaved"
        Layout.fillWidth: true
        Layout.margins: Kirigami.Units.largeSpacing
        type: Kirigami.MessageType.Positive
        text: qsTr("Settings saved.")
        showCloseButton: true
    }

    FormCard.FormHeader { title: qsTr("This app (applies at once)") }
    FormCard.FormCard {
        FormCard.FormSwitchDelegate {
            objectName: "pinByDefaultField"
            text: qsTr("Pin new rules to the program's binary")
            description: qsTr("A prompt's answer then allows only this version of the program; uncheck “Only this version” in the prompt for any version.")
            checked: page.preferences.pinByDefault
            onToggled: page.preferences.setPinByDefault(checked)
        }
        FormCard.FormDelegateSeparator {}
        FormCard.FormSwitchDelegate {
            objectName: "notificationsField"
            text: qsTr("Desktop notifications")
            description: qsTr("For prompts nobody answered and for changed programs.")
            checked: page.preferences.notifications
            onToggled: page.preferences.setNotifications(checked)
        }
        FormCard.FormDelegateSeparator {}
        FormCard.FormSwitchDelegate {
            objectName: "startAtLoginField"
            text: qsTr("Start at login")
            description: qsTr("In the tray, ready to ask about new connections.")
            checked: page.preferences.startAtLogin
            onToggled: page.preferences.setStartAtLogin(checked)
        }
    }

    NotConnected {
        id: notConnected
        Layout.fillWidth: true
        Layout.margins: Kirigami.Units.gridUnit * 2
        helper: page.helper
    }

    // The helper's settings, while it can be asked.
    ColumnLayout {
        Layout.fillWidth: true
        spacing: 0
        visible: notConnected.connected

        FormCard.FormHeader { title: qsTr("Connections nobody answers") }
        FormCard.FormCard {
            FormCard.FormComboBoxDelegate {
                id: defaultActionField
                objectName: "defaultActionField"
                text: qsTr("Default action")
                description: qsTr("For a connection no rule covers when no prompt is answered in time.")
                model: [{"value": "allow", "text": qsTr("Allow")}, {"value": "deny", "text": qsTr("Deny")}]
                textRole: "text"
                valueRole: "value"
            }
            FormCard.FormDelegateSeparator {}
            FormCard.FormSwitchDelegate {
                id: dnsField
                objectName: "dnsToResolversField"
                text: qsTr("Allow name lookups to your DNS servers")
                description: qsTr("A built-in rule: programs may ask the DNS servers this computer uses, so their prompts name the host they want. Your own rules still come first.")
            }
            FormCard.FormDelegateSeparator {}
            FormCard.FormSpinBoxDelegate {
                id: timeoutField
                objectName: "promptTimeoutField"
                label: qsTr("Prompt timeout (seconds)")
                from: 5
                to: 3600
            }
        }

        FormCard.FormHeader { title: qsTr("Containers and virtual machines") }
        FormCard.FormCard {
            FormCard.FormComboBoxDelegate {
                id: forwardedField
                objectName: "forwardedField"
                text: qsTr("Connections this computer forwards")
                description: qsTr("For a container's, a virtual machine's or a shared connection's new connection that no rule covers. Allow keeps them working.")
                model: [{"value": "allow", "text": qsTr("Allow")}, {"value": "ask", "text": qsTr("Ask")},
                        {"value": "deny", "text": qsTr("Deny")}]
                textRole: "text"
                valueRole: "value"
            }
        }

        FormCard.FormHeader { title: qsTr("When the helper is not running") }
        FormCard.FormCard {
            FormCard.FormSwitchDelegate {
                id: failClosedField
                objectName: "failClosedField"
                text: qsTr("Block new connections (fail closed)")
                description: qsTr("Off: the network keeps working without Netwarden (fail open).")
            }
        }

        FormCard.FormHeader { title: qsTr("Speed") }
        FormCard.FormCard {
            FormCard.FormSwitchDelegate {
                id: kernelVerdictsField
                objectName: "kernelVerdictsField"
                text: qsTr("Decide known connections in the kernel")
                description: qsTr("Once a rule has decided a program's connection, its next ones to the same place are decided at once, without a round trip through Netwarden. Needs the eBPF data plane (see Status).")
            }
        }

        FormCard.FormHeader { title: qsTr("History and updates") }
        FormCard.FormCard {
            FormCard.FormSpinBoxDelegate {
                id: historyDaysField
                objectName: "historyDaysField"
                label: qsTr("Keep history (days)")
                from: 1
                to: 3650
            }
            FormCard.FormDelegateSeparator {}
            FormCard.FormSwitchDelegate {
                id: trustUpdatesField
                objectName: "trustUpdatesField"
                text: qsTr("Trust verified package updates")
                description: qsTr("A changed binary that dpkg or rpm vouches for keeps its rules.")
            }
        }

        FormCard.FormHeader { title: qsTr("Where in the world") }
        FormCard.FormCard {
            FormCard.FormSwitchDelegate {
                id: locationsField
                objectName: "locationsField"
                text: qsTr("Show where hosts are")
                description: qsTr("The helper downloads an IP-to-location database to this computer and refreshes it daily when it changed; the world map looks addresses up there, so no look-up leaves this computer.")
            }
            FormCard.FormDelegateSeparator {}
            FormCard.FormTextFieldDelegate {
                id: locationsSourceField
                objectName: "locationsSourceField"
                label: qsTr("Database (MMDB) address; {year} and {month} stand for this month's")
                enabled: locationsField.checked
            }
            FormCard.FormDelegateSeparator { visible: locationState.visible }
            FormCard.FormTextDelegate {
                id: locationState
                objectName: "locationsState"
                visible: page.locationDatabase !== null && page.locationDatabase.enabled
                text: !page.locationDatabase ? ""
                      : page.locationDatabase.problem ? qsTr("Not updated: %1").arg(page.locationDatabase.problem)
                      : page.locationDatabase.loaded ? page.locationDatabase.summary
                      : qsTr("Downloading…")
                description: page.locationDatabase ? page.locationDatabase.credit : ""
                textItem.wrapMode: Text.Wrap
                textItem.textFormat: Text.PlainText  // the helper's error: not markup
                descriptionItem.textFormat: Text.StyledText
                descriptionItem.onLinkActivated: link => page.locationDatabase.openLink(link)
            }
            FormCard.FormButtonDelegate {
                objectName: "updateLocationsButton"
                visible: locationState.visible
                enabled: !page.locationDatabase.updating
                text: qsTr("Update the database now")
                icon.name: "view-refresh"
                onClicked: page.locationDatabase.update()
            }
        }

        FormCard.FormCard {
            Layout.topMargin: Kirigami.Units.largeSpacing
            FormCard.FormButtonDelegate {
                objectName: "saveSettingsButton"
                text: qsTr("Save (needs an administrator)")
                icon.name: "document-save"
                onClicked: page.settings.save(page.edited())
            }
            FormCard.FormButtonDelegate {
                text: qsTr("Revert")
                icon.name: "edit-undo"
                onClicked: page.reset(true)
            }
        }
    }
}
