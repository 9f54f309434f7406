// The helper's status: running (version, since when), or why it cannot be reached.
import QtQuick
import QtQuick.Controls as Controls
import org.kde.kirigami as Kirigami
import Netwarden.Backend

Kirigami.Page {
    id: page

    required property HelperState helper

    title: qsTr("Status")

    actions: [
        Kirigami.Action {
            text: qsTr("Refresh")
            icon.name: "view-refresh"
            shortcut: StandardKey.Refresh
            onTriggered: page.helper.refresh()
        }
    ]

    Kirigami.FormLayout {
        anchors.fill: parent
        visible: page.helper.state === "running"

        Kirigami.Icon {
            source: "security-high"
            implicitWidth: Kirigami.Units.iconSizes.huge
            implicitHeight: Kirigami.Units.iconSizes.huge
        }
        Controls.Label {
            objectName: "helperStateLabel"
            Kirigami.FormData.label: qsTr("Helper:")
            text: qsTr("Running")
        }
        Controls.Label {
            objectName: "helperVersionLabel"
            Kirigami.FormData.label: qsTr("Version:")
            text: page.helper.version
        }
        Controls.Label {
            Kirigami.FormData.label: qsTr("Running since:")
            text: page.helper.startedAt.toLocaleString(Qt.locale(), Locale.ShortFormat)
        }
    }

    Kirigami.PlaceholderMessage {
        objectName: "helperProblem"
        anchors.centerIn: parent
        width: parent.width - Kirigami.Units.gridUnit * 4
        visible: page.helper.state !== "running"
        icon.name: {
            switch (page.helper.state) {
            case "connecting": return "network-connect";
            case "denied": return "security-low";
            default: return "dialog-warning";
            }
        }
        text: {
            switch (page.helper.state) {
            case "connecting": return qsTr("Connecting to the Netwarden helper…");
            case "absent": return qsTr("The Netwarden helper is not running");
            case "denied": return qsTr("You are not allowed to watch this computer's connections");
            default: return qsTr("The Netwarden helper did not answer");
            }
        }
        explanation: {
            switch (page.helper.state) {
            case "absent":
                return qsTr("Netwarden needs its system service. Start it with “sudo systemctl start netwarden-helper”, or install the netwarden package if it is missing.");
            case "denied":
                return qsTr("Your administrator's polkit rules do not grant this. Details: %1").arg(page.helper.errorMessage);
            case "connecting":
                return "";
            default:
                return page.helper.errorMessage;
            }
        }
        helpfulAction: Kirigami.Action {
            text: qsTr("Try again")
            icon.name: "view-refresh"
            enabled: page.helper.state !== "connecting"
            onTriggered: page.helper.refresh()
        }
    }
}
