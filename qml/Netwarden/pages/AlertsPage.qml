// Hash-change alerts, newest first: what changed, whether the package manager vouches
// for it, and the choices (trust the new binary, keep blocking it, decide later).
import QtQuick
import QtQuick.Controls as Controls
import QtQuick.Layouts
import org.kde.kirigami as Kirigami
import Netwarden.Backend

Kirigami.ScrollablePage {
    id: page

    required property AlertModel alerts

    title: qsTr("Alerts")

    header: ColumnLayout {
        spacing: 0
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

        Kirigami.PlaceholderMessage {
            anchors.centerIn: parent
            width: parent.width - Kirigami.Units.gridUnit * 4
            visible: list.count === 0
            icon.name: "security-high"
            text: qsTr("No alerts")
            explanation: qsTr("When a program you allowed changes on disk, it shows up here.")
        }

        delegate: Kirigami.AbstractCard {
            id: card

            required property int alertId
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
            required property string lookup

            objectName: "alert-" + alertId
            width: ListView.view.width

            contentItem: ColumnLayout {
                Kirigami.Heading {
                    level: 3
                    Layout.fillWidth: true
                    wrapMode: Text.Wrap
                    text: card.state === "auto_trusted"
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
                        Kirigami.FormData.label: qsTr("Changed:")
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
                        Kirigami.FormData.label: qsTr("Allowed binary:")
                        font.family: "monospace"
                        text: card.oldHash
                    }
                    Controls.Label {
                        objectName: "newHash"
                        Kirigami.FormData.label: qsTr("New binary:")
                        font.family: "monospace"
                        text: card.newHash
                    }
                    Controls.Label {
                        Kirigami.FormData.label: qsTr("Rules:")
                        text: qsTr("%n rule(s) allowed the old binary", "", card.ruleCount)
                    }
                    Controls.Label {
                        objectName: "alertState"
                        Kirigami.FormData.label: qsTr("Decision:")
                        text: ({
                            "open": qsTr("Blocked until you decide"),
                            "trusted": qsTr("Trusted"),
                            "blocked": qsTr("Blocked"),
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
                        text: qsTr("&Trust the new binary")
                        icon.name: "dialog-ok"
                        onClicked: page.alerts.resolve(card.alertId, "trust")
                    }
                    Controls.Button {
                        objectName: "blockButton"
                        visible: card.state === "open"
                        text: qsTr("&Keep blocking")
                        icon.name: "dialog-cancel"
                        highlighted: true
                        onClicked: page.alerts.resolve(card.alertId, "block")
                    }
                }
            }
        }
    }
}
