// A column heading of a list: clicking sorts the list by its role, again reverses.
import QtQuick
import QtQuick.Controls as Controls
import org.kde.kirigami as Kirigami
import Netwarden.Backend

Controls.ToolButton {
    id: heading

    required property SortFilterModel view
    required property string role

    // `view` is null for a moment while the page is made
    readonly property bool active: view !== null && view.sortRoleName === role

    objectName: "sort-" + role
    font.bold: active
    icon.name: active ? (view.descending ? "view-sort-descending" : "view-sort-ascending") : ""
    display: Controls.AbstractButton.TextBesideIcon
    onClicked: {
        if (active)
            view.descending = !view.descending
        else {
            view.sortRoleName = role
            view.descending = false
        }
    }
}
