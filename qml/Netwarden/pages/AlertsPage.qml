// Alerts, newest first. A pinned program changed on disk: what changed, whether the
// package manager vouches for it, and the choices (trust the new binary, keep blocking it,
// decide later). A program opened a packet socket (its frames pass below the firewall):
// who, and the choices (allow it, block every connection it makes, decide later).
import QtQuick
import QtQuick.Controls as Controls
import QtQuick.Layouts
import org.kde.kirigami as Kirigami
import Netwarden
import Netwarden.Backend

Kirigami.ScrollablePage {
    id: page

    required property AlertModel alerts
    required property HelperState helper

    title: qsTr("Alerts")

    header: ColumnLayout {
        spacing: 0
        visible: page.helper.state === "running"
        Kirigami.InlineMessage {
            id: problem
            objectName: "alertsProblem"
            Layout.fillWidth: true
            type: Kirigami.MessageType.Error
            showCloseButton: true
        }
        Kirigami.InlineMessage {
            objectName: "lookupSettings"
            Layout.fillWidth: true
            visible: true
            type: Kirigami.MessageType.Information
            text: page.alerts.hasApiKey
                  ? qsTr("Hash look-ups at VirusTotal are on (only when you click).")
                  : qsTr("Optional: store a VirusTotal API key in your keyring to look hashes up.")
            actions: [
                Kirigami.Action {
                    displayComponent: Kirigami.PasswordField {
                        objectName: "apiKeyField"
                        placeholderText: qsTr("API key")
                        onAccepted: { page.alerts.saveApiKey(text); text = "" }
                    }
                }
            ]
        }
    }

    Connections {
        target: page.alerts
        function onFailed(message) {
            problem.text = message
            problem.visible = true
        }
    }

    ListView {
        id: list
        objectName: "alertList"
        model: page.alerts
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
            icon.name: "security-high"
            text: qsTr("No alerts")
            explanation: qsTr("When a program you allowed changes on disk, or a program sends frames past the firewall, it shows up here.")
        }

        delegate: Kirigami.AbstractCard {
            id: card

            required property int alertId
            required property string kind
            required property string program
            required property string exe
            required property string oldHash
            required property string newHash
            required property string changedAt
            required property int size
            required property string packageName
            required property bool verified
            required property string state
            required property int ruleCount
            required property int pid
            required property string user
            required property string lookup
            readonly property bool packetSocket: kind === "packet_socket"

            objectName: "alert-" + alertId
            width: ListView.view.width

            contentItem: ColumnLayout {
                Kirigami.Heading {
                    objectName: "alertHeading"
                    level: 3
                    Layout.fillWidth: true
                    wrapMode: Text.Wrap
                    text: card.packetSocket
                          ? qsTr("%1 opened a packet socket").arg(card.program)
                          : card.state === "auto_trusted"
                            ? qsTr("%1 was updated by its package").arg(card.program)
                            : qsTr("%1 changed on disk").arg(card.program)
                }
                Kirigami.FormLayout {
                    Layout.fillWidth: true
                    Controls.Label {
                        Kirigami.FormData.label: qsTr("Program:")
                        text: card.exe
                    }
                    Controls.Label {
                        objectName: "packetSocketExplanation"
                        visible: card.packetSocket
                        Kirigami.FormData.label: qsTr("Why:")
                        Layout.maximumWidth: Kirigami.Units.gridUnit * 24
                        wrapMode: Text.Wrap
                        text: qsTr("Frames sent on a packet socket pass below the firewall: no rule sees them. Network tools (DHCP clients, packet capture) use them; other programs rarely do.")
                    }
                    Controls.Label {
                        visible: card.packetSocket
                        Kirigami.FormData.label: qsTr("Process:")
                        text: qsTr("%1, run by %2").arg(card.pid).arg(card.user)
                    }
                    Controls.Label {
                        Kirigami.FormData.label: card.packetSocket ? qsTr("Binary:") : qsTr("Changed:")
                        text: qsTr("%1, %2 bytes").arg(card.changedAt).arg(card.size)
                    }
                    Controls.Label {
                        Kirigami.FormData.label: qsTr("Package:")
                        text: card.packageName === ""
                              ? qsTr("none: no package manager vouches for this file")
                              : card.verified ? qsTr("%1, verified by dpkg").arg(card.packageName)
                                              : qsTr("%1, does NOT match what dpkg installed").arg(card.packageName)
                    }
                    Controls.Label {
                        objectName: "oldHash"
                        visible: !card.packetSocket
                        Kirigami.FormData.label: qsTr("Allowed binary:")
                        font.family: "monospace"
                        text: card.oldHash
                    }
                    Controls.Label {
                        objectName: "newHash"
                        Kirigami.FormData.label: card.packetSocket ? qsTr("Hash:") : qsTr("New binary:")
                        font.family: "monospace"
                        text: card.newHash
                    }
                    Controls.Label {
                        visible: !card.packetSocket
                        Kirigami.FormData.label: qsTr("Rules:")
                        text: Format.count(card.ruleCount, qsTr("%n rule allowed the old binary"), qsTr("%n rules allowed the old binary"))
                    }
                    Controls.Label {
                        objectName: "alertState"
                        Kirigami.FormData.label: qsTr("Decision:")
                        text: ({
                            "open": card.packetSocket ? qsTr("Not decided: its frames still pass")
                                                      : qsTr("Blocked until you decide"),
                            "trusted": card.packetSocket ? qsTr("Allowed") : qsTr("Trusted"),
                            "blocked": card.packetSocket ? qsTr("Blocked: every connection it makes is refused")
                                                         : qsTr("Blocked"),
                            "auto_trusted": qsTr("Trusted automatically (verified package update)")
                        })[card.state] || card.state
                    }
                    Controls.Label {
                        visible: card.lookup !== ""
                        Kirigami.FormData.label: qsTr("Look-up:")
                        Layout.fillWidth: true
                        wrapMode: Text.Wrap
                        text: card.lookup
                    }
                }
                RowLayout {
                    Layout.alignment: Qt.AlignRight
                    Controls.Button {
                        text: qsTr("Look up this hash")
                        icon.name: "search"
                        visible: page.alerts.hasApiKey
                        onClicked: page.alerts.lookUp(card.alertId)
                    }
                    Controls.Button {
                        objectName: "trustButton"
                        visible: card.state === "open"
                        text: card.packetSocket ? qsTr("&Allow it") : qsTr("&Trust the new binary")
                        icon.name: "dialog-ok"
                        onClicked: page.alerts.resolve(card.alertId, "trust")
                    }
                    Controls.Button {
                        objectName: "blockButton"
                        visible: card.state === "open"
                        text: card.packetSocket ? qsTr("&Block all its connections") : qsTr("&Keep blocking")
                        icon.name: "dialog-cancel"
                        highlighted: true
                        onClicked: page.alerts.resolve(card.alertId, "block")
                    }
                }
            }
        }
    }
}
