// The helper's status: running (version, since when), or why it cannot be reached.
import QtQuick
import QtQuick.Controls as Controls
import org.kde.kirigami as Kirigami
import Netwarden
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
        Controls.Label {
            objectName: "helperAttribution"
            Kirigami.FormData.label: qsTr("Programs known:")
            text: page.helper.attribution
        }
        Controls.Label {
            objectName: "helperKernelVerdicts"
            Kirigami.FormData.label: qsTr("Kernel verdicts:")
            text: page.helper.kernelVerdicts
            wrapMode: Text.Wrap
        }
    }

    NotConnected {
        objectName: "helperProblem"
        anchors.centerIn: parent
        width: parent.width - Kirigami.Units.gridUnit * 4
        helper: page.helper
    }
}
