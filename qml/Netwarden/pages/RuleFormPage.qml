// Create or edit a rule. The helper checks every field; its message ("ports: ports run
// from 1 to 65535, low to high") is shown at the field it names, or above the form.
import QtQuick
import QtQuick.Controls as Controls
import QtQuick.Layouts
import org.kde.kirigami as Kirigami
import org.kde.kirigamiaddons.formcard as FormCard
import Netwarden.Backend

FormCard.FormCardPage {
    id: form

    required property RulesModel rules
    // Given, the form offers the rule's profile; else the rule keeps the one it has.
    property ProfilesModel profiles: null
    readonly property var profileNames: profiles ? profiles.names : []
    property int ruleId: -1
    // A new rule's fields as it starts ({action, exe, destination, ...}): what was clicked.
    property var preset: ({})
    readonly property var original: ruleId >= 0 ? rules.rule(ruleId) : preset
    property string error: ""
    readonly property string errorField: error.indexOf(":") > 0 ? error.substring(0, error.indexOf(":")) : ""
    readonly property var shownFields: ["action", "exe", "destination", "ports", "protocol", "priority", "note", "uid", "profile"]

    objectName: "ruleForm"
    title: ruleId >= 0 ? qsTr("Edit Rule") : qsTr("New Rule")

    function messageFor(field) {
        return errorField === field ? error : ""
    }

    function save() {
        error = ""
        rules.save(ruleId, {
            "action": actionField.currentValue,
            "exe": exeField.text,
            "destination": destinationField.text,
            "ports": portsField.text,
            "protocol": protocolField.currentValue,
            "priority": priorityField.value,
            "note": noteField.text,
            "profile": profileField.visible ? profileField.currentValue : (form.original.profile || ""),
        }, everyUserField.checked)
    }

    Connections {
        target: form.rules
        function onSaveFailed(message) { form.error = message }
        function onSaved(storedId) { applicationWindow().pageStack.layers.pop() }
    }

    Kirigami.InlineMessage {
        objectName: "formProblem"
        Layout.fillWidth: true
        Layout.margins: Kirigami.Units.largeSpacing
        type: Kirigami.MessageType.Error
        visible: form.error !== "" && form.shownFields.indexOf(form.errorField) < 0
        text: form.error
    }

    FormCard.FormHeader { title: qsTr("What") }
    FormCard.FormCard {
        FormCard.FormComboBoxDelegate {
            id: actionField
            objectName: "actionField"
            text: qsTr("Action")
            model: [{"value": "allow", "text": qsTr("Allow")}, {"value": "deny", "text": qsTr("Deny")}]
            textRole: "text"
            valueRole: "value"
            currentIndex: form.original.action === "deny" ? 1 : 0
        }
        FormCard.FormDelegateSeparator {}
        FormCard.FormTextFieldDelegate {
            id: exeField
            objectName: "exeField"
            label: qsTr("Program (path or glob; empty: any)")
            text: form.original.exe || ""
            placeholderText: "/usr/bin/firefox"
            status: Kirigami.MessageType.Error
            statusMessage: form.messageFor("exe")
        }
        FormCard.FormDelegateSeparator {}
        FormCard.FormSwitchDelegate {
            id: everyUserField
            objectName: "everyUserField"
            text: qsTr("For every user")
            description: qsTr("Off: only your own programs. On: needs an administrator.")
            checked: form.ruleId >= 0 && form.original.uid === undefined
        }
    }

    FormCard.FormHeader { title: qsTr("Where") }
    FormCard.FormCard {
        FormCard.FormTextFieldDelegate {
            id: destinationField
            objectName: "destinationField"
            label: qsTr("Destination (host, *.domain, IP or network; several separated by commas; empty: anywhere)")
            text: form.original.destination || ""
            placeholderText: "*.example.org"
            status: Kirigami.MessageType.Error
            statusMessage: form.messageFor("destination")
        }
        FormCard.FormDelegateSeparator {}
        FormCard.FormTextFieldDelegate {
            id: portsField
            objectName: "portsField"
            label: qsTr("Port or range (several separated by commas; empty: any)")
            text: form.original.ports || ""
            placeholderText: "443"
            status: Kirigami.MessageType.Error
            statusMessage: form.messageFor("ports")
        }
        FormCard.FormDelegateSeparator {}
        FormCard.FormComboBoxDelegate {
            id: protocolField
            objectName: "protocolField"
            text: qsTr("Protocol")
            model: [{"value": "", "text": qsTr("Any")}, {"value": "tcp", "text": "TCP"},
                    {"value": "udp", "text": "UDP"}, {"value": "icmp", "text": "ICMP"},
                    {"value": "icmpv6", "text": "ICMPv6"}]
            textRole: "text"
            valueRole: "value"
            currentIndex: Math.max(0, ["", "tcp", "udp", "icmp", "icmpv6"].indexOf(form.original.protocol || ""))
            status: Kirigami.MessageType.Error
            statusMessage: form.messageFor("protocol")
        }
    }

    FormCard.FormHeader { title: qsTr("More") }
    FormCard.FormCard {
        FormCard.FormComboBoxDelegate {
            id: profileField
            objectName: "profileField"
            visible: form.profileNames.length > 0
            text: qsTr("Profile")
            description: qsTr("In force in every profile, or only while one is active")
            model: [{"value": "", "text": qsTr("Every profile")},
                    ...form.profileNames.map(name => ({"value": name, "text": name}))]
            textRole: "text"
            valueRole: "value"
            // Once, not bound: a change of the profiles must not undo the user's pick.
            Component.onCompleted: currentIndex = form.profileNames.indexOf(form.original.profile || "") + 1
            status: Kirigami.MessageType.Error
            statusMessage: form.messageFor("profile")
        }
        FormCard.FormDelegateSeparator { visible: profileField.visible }
        FormCard.FormSpinBoxDelegate {
            id: priorityField
            objectName: "priorityField"
            label: qsTr("Priority (higher first)")
            from: -1000
            to: 1000
            value: form.original.priority || 0
        }
        FormCard.FormDelegateSeparator {}
        FormCard.FormTextFieldDelegate {
            id: noteField
            objectName: "noteField"
            label: qsTr("Note")
            text: form.original.note || ""
        }
        FormCard.FormDelegateSeparator {}
        FormCard.FormButtonDelegate {
            objectName: "saveRuleButton"
            text: form.ruleId >= 0 ? qsTr("Save") : qsTr("Add Rule")
            icon.name: "document-save"
            onClicked: form.save()
        }
        FormCard.FormButtonDelegate {
            text: qsTr("Cancel")
            icon.name: "dialog-cancel"
            onClicked: applicationWindow().pageStack.layers.pop()
        }
    }
}
