// The main window of Netwarden.
import QtQuick
import org.kde.kirigami as Kirigami
import Netwarden.Backend

Kirigami.ApplicationWindow {
    id: root

    required property HelperState helper

    title: qsTr("Netwarden")
    width: Kirigami.Units.gridUnit * 48
    height: Kirigami.Units.gridUnit * 32
    minimumWidth: Kirigami.Units.gridUnit * 24
    minimumHeight: Kirigami.Units.gridUnit * 18

    pageStack.initialPage: StatusPage {
        helper: root.helper
    }
}
