// Blocklists: each subscription with the format its list was read in, the names and
// networks it blocks, how its lines were counted (accepted, ignored by kind, rejected),
// how many connections it blocked, and what went wrong; a switch turns it off (it then
// blocks nothing and is not downloaded) or on again. Subscribing is an administrator's
// task (netwardenctl blocklists add); "Update now" reads every list again.
import QtQuick
import QtQuick.Controls as Controls
import QtQuick.Layouts
import org.kde.kirigami as Kirigami
import Netwarden
import Netwarden.Backend

Kirigami.ScrollablePage {
    id: page

    required property BlocklistModel blocklists
    required property HelperState helper

    title: qsTr("Blocklists")

    Component.onCompleted: page.blocklists.refresh()

    actions: [
        Kirigami.Action {
            objectName: "updateBlocklists"
            text: page.blocklists.updating ? qsTr("Updating…") : qsTr("Update now")
            icon.name: "view-refresh"
            enabled: !page.blocklists.updating
            onTriggered: page.blocklists.update()
        }
    ]

    header: ColumnLayout {
        spacing: 0
        Controls.ProgressBar {  // while the helper downloads and reads the lists
            objectName: "blocklistsUpdating"
            Layout.fillWidth: true
            indeterminate: true
            visible: page.blocklists.updating
        }
        Kirigami.InlineMessage {
            id: problem
            objectName: "blocklistsProblem"
            Layout.fillWidth: true
            type: Kirigami.MessageType.Error
            showCloseButton: true
        }
    }

    Connections {
        target: page.blocklists
        function onFailed(message) {
            problem.text = message
            problem.visible = true
        }
    }

    ListView {
        id: list
        objectName: "blocklistList"
        model: page.blocklists
        spacing: Kirigami.Units.largeSpacing

        NotConnected {
            anchors.centerIn: parent
            width: parent.width - Kirigami.Units.gridUnit * 4
            helper: page.helper
        }

        Kirigami.PlaceholderMessage {
            anchors.centerIn: parent
            width: parent.width - Kirigami.Units.gridUnit * 4
            visible: list.count === 0 && page.helper.state === "running"
            icon.name: "view-filter"
            text: qsTr("No blocklists")
            explanation: qsTr("An administrator subscribes to lists with: netwardenctl blocklists add URL")
        }

        delegate: Kirigami.AbstractCard {
            id: card

            required property int blocklistId
            required property string name
            required property string source
            required property bool enabled
            required property string format
            required property int names
            required property int networks
            required property int accepted
            required property int ignored
            required property string ignoredKinds
            required property int rejected
            required property string updatedAt
            required property string problem
            required property int hits
            required property string lastHit

            objectName: "blocklist-" + blocklistId
            width: ListView.view.width

            contentItem: ColumnLayout {
                RowLayout {
                    Layout.fillWidth: true
                    Kirigami.Heading {
                        level: 3
                        Layout.fillWidth: true
                        elide: Text.ElideRight
                        text: card.enabled ? card.name : qsTr("%1 (off)").arg(card.name)
                    }
                    Controls.Switch {
                        objectName: "blocklistSwitch"
                        checked: card.enabled
                        onToggled: {
                            page.blocklists.setEnabled(card.blocklistId, checked)
                            // Show what the helper stores, not the click.
                            checked = Qt.binding(() => card.enabled)
                        }
                        Controls.ToolTip.text: card.enabled ? qsTr("On: blocks what it lists")
                                                            : qsTr("Off: blocks nothing, not downloaded")
                        Controls.ToolTip.visible: hovered
                    }
                }
                Kirigami.FormLayout {
                    Layout.fillWidth: true
                    Controls.Label {
                        Kirigami.FormData.label: qsTr("Source:")
                        Layout.maximumWidth: Kirigami.Units.gridUnit * 30
                        elide: Text.ElideMiddle
                        text: card.source
                    }
                    Controls.Label {
                        objectName: "blocklistBlocks"
                        Kirigami.FormData.label: qsTr("Blocks:")
                        text: card.format === ""
                              ? qsTr("nothing yet: not read")
                              : card.networks > 0
                                ? qsTr("%1 names and %2 networks (%3 list)").arg(card.names.toLocaleString(Qt.locale(), "f", 0)).arg(card.networks.toLocaleString(Qt.locale(), "f", 0)).arg(card.format)
                                : qsTr("%1 names (%2 list)").arg(card.names.toLocaleString(Qt.locale(), "f", 0)).arg(card.format)
                    }
                    Controls.Label {
                        objectName: "blocklistLines"
                        visible: card.format !== ""
                        Kirigami.FormData.label: qsTr("Lines:")
                        Layout.maximumWidth: Kirigami.Units.gridUnit * 30
                        wrapMode: Text.Wrap
                        text: qsTr("%1 accepted, %2 ignored%3, %4 rejected")
                              .arg(card.accepted.toLocaleString(Qt.locale(), "f", 0))
                              .arg(card.ignored.toLocaleString(Qt.locale(), "f", 0))
                              .arg(card.ignoredKinds === "" ? "" : qsTr(" (%1)").arg(card.ignoredKinds))
                              .arg(card.rejected.toLocaleString(Qt.locale(), "f", 0))
                    }
                    Controls.Label {
                        objectName: "blocklistHits"
                        Kirigami.FormData.label: qsTr("Blocked:")
                        text: card.hits === 0 ? qsTr("no connection yet")
                              : Format.count(card.hits, qsTr("%n connection, at %1"), qsTr("%n connections, the last at %1")).arg(card.lastHit)
                    }
                    Controls.Label {
                        Kirigami.FormData.label: qsTr("Updated:")
                        text: card.updatedAt || qsTr("never")
                    }
                    Controls.Label {
                        objectName: "blocklistProblem"
                        visible: card.problem !== ""
                        Kirigami.FormData.label: qsTr("Problem:")
                        Layout.maximumWidth: Kirigami.Units.gridUnit * 30
                        wrapMode: Text.Wrap
                        color: Kirigami.Theme.negativeTextColor
                        text: card.problem
                    }
                }
            }
        }
    }
}
