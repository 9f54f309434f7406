// What every page shows instead of its content while the helper cannot be used: not
// running (with how to start it), refusing this user, or not answering; and a way to try
// again. `connected` says whether the page may show its own content.
import QtQuick
import org.kde.kirigami as Kirigami
import Netwarden.Backend

Kirigami.PlaceholderMessage {
    id: message

    required property HelperState helper
    readonly property bool connected: helper.state === "running"

    objectName: "notConnected"
    visible: !connected
    icon.name: {
        switch (helper.state) {
        case "connecting": return "network-connect";
        case "denied": return "security-low";
        default: return "dialog-warning";
        }
    }
    text: {
        switch (helper.state) {
        case "connecting": return qsTr("Connecting to the Netwarden helper…");
        case "absent": return qsTr("Not connected: the Netwarden helper is not running");
        case "denied": return qsTr("You are not allowed to watch this computer's connections");
        default: return qsTr("Not connected: the Netwarden helper did not answer");
        }
    }
    explanation: {
        switch (helper.state) {
        case "absent":
            return qsTr("Netwarden needs its system service. Start it with “sudo systemctl start netwarden-helper” (or try Netwarden with “sudo make demo” in its source folder), or install the netwarden package if it is missing.");
        case "denied":
            return qsTr("Your administrator's polkit rules do not grant this. Details: %1").arg(helper.errorMessage);
        case "connecting":
            return "";
        default:
            return helper.errorMessage;
        }
    }
    helpfulAction: Kirigami.Action {
        text: qsTr("Try again")
        icon.name: "view-refresh"
        enabled: message.helper !== null && message.helper.state !== "connecting"  // null: going away
        onTriggered: message.helper.refresh()
    }
}
