// Every rule, in a table: filter (by text, and by profile), sort by any column, enable or
// disable in place, edit, delete (with Undo). The helper's order (precedence) is the
// default. With profiles, the header switches the active one and each rule shows its
// profile: a rule of a profile not active is listed dimmed (not in force).
import QtQuick
import QtQuick.Controls as Controls
import QtQuick.Layouts
import org.kde.kirigami as Kirigami
import Netwarden
import Netwarden.Backend

Kirigami.ScrollablePage {
    id: page

    required property RulesModel rules
    required property HelperState helper
    property ProfilesModel profiles: null
    readonly property var profileNames: profiles ? profiles.names : []

    readonly property real programWidth: Kirigami.Units.gridUnit * 6
    readonly property real destinationWidth: Kirigami.Units.gridUnit * 6
    readonly property real portsWidth: Kirigami.Units.gridUnit * 4.5
    readonly property real lifetimeWidth: Kirigami.Units.gridUnit * 4.5
    readonly property real numberWidth: Kirigami.Units.gridUnit * 3
    readonly property real lastHitWidth: Kirigami.Units.gridUnit * 6.5
    readonly property real switchWidth: Kirigami.Units.gridUnit * 2.5
    readonly property real actionWidth: Kirigami.Units.gridUnit * 3.5
    readonly property real buttonsWidth: Kirigami.Units.gridUnit * 4
    readonly property real profileWidth: Kirigami.Units.gridUnit * 5.5

    title: qsTr("Rules")

    // The form opens as a layer over the whole window: beside the table it would squeeze
    // the columns until their headings overlap.
    function openForm(ruleId) {
        applicationWindow().pageStack.layers.push(ruleForm, {"ruleId": ruleId})
    }

    actions: [
        Kirigami.Action {
            objectName: "addRuleAction"
            text: qsTr("Add Rule…")
            icon.name: "list-add"
            shortcut: StandardKey.New
            enabled: page.helper.state === "running"
            onTriggered: page.openForm(-1)
        }
    ]

    Component {
        id: ruleForm
        RuleFormPage { rules: page.rules; profiles: page.profiles }
    }

    Connections {
        target: page.rules
        function onFailed(message) {
            problem.text = message
            problem.visible = true
        }
        function onDeleted(description) {
            undoMessage.text = qsTr("Deleted: %1").arg(description)
            undoMessage.visible = true
        }
    }

    Connections {
        target: page.profiles
        function onFailed(message) {
            problem.text = message
            problem.visible = true
        }
    }

    header: ColumnLayout {
        spacing: 0
        visible: page.helper.state === "running"
        Kirigami.InlineMessage {
            id: problem
            objectName: "rulesProblem"
            Layout.fillWidth: true
            type: Kirigami.MessageType.Error
            showCloseButton: true
        }
        Kirigami.InlineMessage {
            id: undoMessage
            objectName: "undoMessage"
            Layout.fillWidth: true
            type: Kirigami.MessageType.Information
            showCloseButton: true
            actions: [
                Kirigami.Action {
                    objectName: "undoAction"
                    text: qsTr("Undo")
                    icon.name: "edit-undo"
                    enabled: page.rules.canUndo
                    onTriggered: {
                        page.rules.undoDelete()
                        undoMessage.visible = false
                    }
                }
            ]
        }
        RowLayout {
            Layout.fillWidth: true
            Layout.margins: Kirigami.Units.smallSpacing
            Kirigami.SearchField {
                objectName: "rulesFilter"
                Layout.fillWidth: true
                placeholderText: qsTr("Filter by program, destination, port, action, user, profile…")
                onTextChanged: view.filterText = text
            }
            Controls.ComboBox {
                id: profileFilter
                objectName: "rulesProfileFilter"
                visible: page.profileNames.length > 0
                model: [qsTr("All profiles"), qsTr("In force now"), qsTr("Every profile's"),
                        ...page.profileNames.map(name => qsTr("Only %1").arg(name))]
                // The profile values a shown rule may have (null: any).
                readonly property var shown: !visible || currentIndex <= 0 ? null
                    : currentIndex === 1 ? ["", page.profiles.active]
                    : currentIndex === 2 ? [""] : [page.profileNames[currentIndex - 3]]
            }
            ProfileSwitcher {
                visible: page.profileNames.length > 0
                profiles: page.profiles
            }
        }
        RowLayout {
            Layout.fillWidth: true
            Layout.leftMargin: Kirigami.Units.largeSpacing
            spacing: 0
            Item { implicitWidth: page.switchWidth }
            SortHeader { view: view; role: "ruleAction"; text: qsTr("Action"); Layout.preferredWidth: page.actionWidth }
            SortHeader { view: view; role: "program"; text: qsTr("Program"); Layout.fillWidth: true; Layout.preferredWidth: page.programWidth }
            SortHeader { view: view; role: "destination"; text: qsTr("Destination"); Layout.fillWidth: true; Layout.preferredWidth: page.destinationWidth }
            SortHeader { view: view; role: "ports"; text: qsTr("Port"); Layout.preferredWidth: page.portsWidth }
            SortHeader { view: view; role: "lifetime"; text: qsTr("Lifetime"); Layout.preferredWidth: page.lifetimeWidth }
            SortHeader { view: view; role: "priority"; text: qsTr("Prio."); Layout.preferredWidth: page.numberWidth }
            SortHeader { view: view; role: "hits"; text: qsTr("Hits"); Layout.preferredWidth: page.numberWidth }
            SortHeader { view: view; role: "lastHitTime"; text: qsTr("Last hit"); Layout.preferredWidth: page.lastHitWidth }
            SortHeader { view: view; role: "profile"; text: qsTr("Profile"); Layout.preferredWidth: page.profileWidth; visible: page.profileNames.length > 0 }
            Item { implicitWidth: page.buttonsWidth }
        }
    }

    ListView {
        id: list
        objectName: "rulesList"
        model: SortFilterModel {
            id: view
            source: page.rules
            filterRoles: ["program", "exe", "destination", "ports", "protocol", "ruleAction", "user", "note", "lifetime", "profile"]
            matchRole: profileFilter.shown ? "profile" : ""
            matchValues: profileFilter.shown || []
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
            icon.name: "view-list-details"
            text: page.rules.count === 0 ? qsTr("No rules yet") : qsTr("No rule matches the filter")
            explanation: page.rules.count === 0
                         ? qsTr("Rules are made when you answer a prompt, or with “Add Rule…”.") : ""
        }

        delegate: Controls.ItemDelegate {
            id: row

            required property real ruleId  // real: the administrator's ids start at 2^48
            required property string ruleAction
            required property string program
            required property string exe
            required property string user
            required property string destination
            required property string destinationSummary
            required property string destinationTip
            required property string ports
            required property string portsSummary
            required property string protocol
            required property string lifetime
            required property int priority
            required property int hits
            required property string lastHit
            required property bool pinned
            required property string pinnedHash
            required property bool ruleEnabled
            required property string note
            required property string managedBy  // the administrator's rules.d file, "built-in" or ""
            required property string profile  // "" for every profile

            readonly property bool editable: managedBy === ""
            readonly property bool inForce: profile === "" || (page.profiles !== null && profile === page.profiles.active)

            objectName: "rule-" + ruleId
            width: ListView.view.width
            onClicked: if (editable) page.openForm(ruleId)

            contentItem: RowLayout {
                spacing: 0
                Controls.Switch {
                    objectName: "enabledSwitch"
                    Layout.preferredWidth: page.switchWidth
                    enabled: row.editable
                    checked: row.ruleEnabled
                    onToggled: {
                        page.rules.setEnabled(row.ruleId, checked)
                        // Show what the helper stores (RulesChanged), not the click.
                        checked = Qt.binding(() => row.ruleEnabled)
                    }
                    Controls.ToolTip.text: row.ruleEnabled ? qsTr("Enabled") : qsTr("Disabled")
                    Controls.ToolTip.visible: hovered
                }
                Item {
                    Layout.preferredWidth: page.actionWidth
                    implicitHeight: badge.implicitHeight
                    VerdictBadge { id: badge; verdict: row.ruleAction }
                }
                ColumnLayout {
                    Layout.fillWidth: true
                    Layout.preferredWidth: page.programWidth
                    spacing: 0
                    RowLayout {
                        Controls.Label {
                            objectName: "ruleProgram"
                            Layout.fillWidth: true
                            text: row.program
                            font.bold: true
                            elide: Text.ElideRight
                            opacity: row.ruleEnabled && row.inForce ? 1 : 0.6
                        }
                        Kirigami.Icon {
                            objectName: "pinIcon"
                            visible: row.pinned
                            source: "object-locked"
                            implicitWidth: Kirigami.Units.iconSizes.small
                            implicitHeight: Kirigami.Units.iconSizes.small
                            Controls.ToolTip.text: qsTr("Only this binary (sha256 %1…)").arg(row.pinnedHash.substring(0, 12))
                            Controls.ToolTip.visible: pinHover.hovered
                            HoverHandler { id: pinHover }
                        }
                    }
                    Controls.Label {
                        objectName: "ruleOwner"
                        Layout.fillWidth: true
                        text: row.editable
                              ? (row.user === "every user" ? qsTr("every user") : row.user)
                              : row.managedBy === "built-in"
                                ? qsTr("built in: your DNS servers (Settings turns it off)")
                                : qsTr("set by your administrator (%1)").arg(row.managedBy)
                        font: Kirigami.Theme.smallFont
                        opacity: 0.7
                        elide: Text.ElideRight
                    }
                }
                Controls.Label {
                    objectName: "ruleDestination"
                    Layout.fillWidth: true
                    Layout.preferredWidth: page.destinationWidth
                    text: row.destinationSummary || qsTr("anywhere")
                    elide: Text.ElideRight
                    Controls.ToolTip.text: row.destinationTip
                    Controls.ToolTip.visible: destinationHover.hovered && row.destinationTip !== ""
                    HoverHandler { id: destinationHover }
                }
                Controls.Label {
                    objectName: "rulePorts"
                    Layout.preferredWidth: page.portsWidth
                    text: [row.portsSummary || qsTr("any"), row.protocol.toUpperCase()].filter(s => s).join(" ")
                    elide: Text.ElideRight
                }
                Controls.Label {
                    Layout.preferredWidth: page.lifetimeWidth
                    text: row.lifetime
                    elide: Text.ElideRight
                }
                Controls.Label {
                    Layout.preferredWidth: page.numberWidth
                    text: row.priority
                }
                Controls.Label {
                    objectName: "ruleHits"
                    Layout.preferredWidth: page.numberWidth
                    text: row.hits
                }
                Controls.Label {
                    objectName: "ruleLastHit"
                    Layout.preferredWidth: page.lastHitWidth
                    text: row.lastHit || qsTr("never")
                    opacity: row.lastHit ? 1 : 0.6
                }
                Item {
                    Layout.preferredWidth: page.profileWidth
                    implicitHeight: profileBadge.implicitHeight
                    visible: page.profileNames.length > 0
                    ProfileBadge {
                        id: profileBadge
                        width: Math.min(implicitWidth, parent.width - Kirigami.Units.smallSpacing)
                        profile: row.profile
                        inForce: row.inForce
                        Controls.ToolTip.text: row.inForce ? "" : qsTr("Not in force: profile %1 is not active").arg(row.profile)
                        Controls.ToolTip.visible: badgeHover.hovered && !row.inForce
                        HoverHandler { id: badgeHover }
                    }
                }
                Controls.ToolButton {
                    objectName: "editButton"
                    Layout.preferredWidth: page.buttonsWidth / 2
                    enabled: row.editable
                    opacity: row.editable ? 1 : 0  // keeps the columns aligned
                    icon.name: "document-edit"
                    text: qsTr("Edit")
                    display: Controls.AbstractButton.IconOnly
                    onClicked: page.openForm(row.ruleId)
                }
                Controls.ToolButton {
                    objectName: "deleteButton"
                    Layout.preferredWidth: page.buttonsWidth / 2
                    enabled: row.editable
                    opacity: row.editable ? 1 : 0  // keeps the columns aligned
                    icon.name: "edit-delete"
                    text: qsTr("Delete")
                    display: Controls.AbstractButton.IconOnly
                    onClicked: page.rules.remove(row.ruleId)
                }
            }
        }
    }
}
