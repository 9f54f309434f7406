// Where in the world: a WorldMap drawn as the countries' outline (QtQuick Shapes, vector
// data shipped with the app, no online tiles), a dot per remote city or country sized by
// its traffic, and arcs from here (this computer's time zone). This network, and hosts
// the location database does not place, are listed apart. Resting the pointer on a dot
// tells its place, traffic and hosts; a click opens a host's details (`hostClicked`),
// from a menu when the place has several.
import QtQuick
import QtQuick.Controls as Controls
import QtQuick.Layouts
import QtQuick.Shapes
import org.kde.kirigami as Kirigami
import Netwarden
import Netwarden.Backend

Item {
    id: view

    required property WorldMap map
    property LocationDatabase database: null
    // The map's scale (pixels per map unit) and its top left corner, centred in the view.
    readonly property real mapScale: Math.min(width / map.mapWidth, height / map.mapHeight)
    readonly property real originX: (width - map.mapWidth * mapScale) / 2
    readonly property real originY: (height - map.mapHeight * mapScale) / 2
    readonly property real smallest: Kirigami.Units.smallSpacing * 1.5
    readonly property real largest: Kirigami.Units.gridUnit * 1.2

    signal hostClicked(string host)
    signal settingsWanted()

    Component.onCompleted: map.active = true
    Component.onDestruction: map.active = false

    function openHosts(hosts, item) {
        if (hosts.length === 1) {
            view.hostClicked(hosts[0])
            return
        }
        hostMenu.hosts = hosts
        hostMenu.popup(item)
    }

    function placeText(name, bytes, attempts, denied, hosts) {
        const shown = hosts.slice(0, 5).join("\n")
        const more = hosts.length > 5 ? "\n" + qsTr("and %1 more").arg(hosts.length - 5) : ""
        const refused = denied > 0 ? "\n" + qsTr("%1 denied").arg(denied) : ""
        const moved = Format.count(attempts, qsTr("%1 in %n connection"), qsTr("%1 in %n connections"))
        return name + "\n" + moved.arg(Format.bytes(bytes)) + refused + "\n" + shown + more
    }

    Item {  // the map, in its own units, scaled to the view
        id: canvas
        x: view.originX
        y: view.originY
        width: view.map.mapWidth
        height: view.map.mapHeight
        scale: view.mapScale
        transformOrigin: Item.TopLeft
        clip: true

        Shape {
            objectName: "worldOutline"
            anchors.fill: parent
            asynchronous: true  // made on a worker thread, never in a frame
            ShapePath {
                fillColor: Qt.alpha(Kirigami.Theme.textColor, 0.09)
                strokeColor: Qt.alpha(Kirigami.Theme.textColor, 0.3)
                strokeWidth: 1 / Math.max(view.mapScale, 0.01)
                fillRule: ShapePath.OddEvenFill
                PathSvg { path: view.map.outline }
            }
        }
        Shape {
            objectName: "worldArcs"
            anchors.fill: parent
            asynchronous: true  // made on a worker thread, never in a frame
            visible: view.map.arcs !== ""
            ShapePath {
                fillColor: "transparent"
                strokeColor: Qt.alpha(Kirigami.Theme.highlightColor, 0.55)
                strokeWidth: 1.5 / Math.max(view.mapScale, 0.01)
                PathSvg { path: view.map.arcs }
            }
        }
    }

    Rectangle {  // here
        objectName: "worldHere"
        visible: view.map.hereKnown
        width: Kirigami.Units.smallSpacing * 2
        height: width
        radius: width / 2
        x: view.originX + view.map.hereX * view.mapScale - width / 2
        y: view.originY + view.map.hereY * view.mapScale - height / 2
        color: Kirigami.Theme.textColor
        Controls.ToolTip.text: qsTr("Here (by this computer's time zone)")
        Controls.ToolTip.visible: hereHover.hovered
        HoverHandler { id: hereHover }
    }

    Repeater {
        model: view.map.places
        delegate: Rectangle {
            id: dot
            required property string key
            required property string name
            required property real mapX
            required property real mapY
            required property real size
            required property double bytes
            required property int attempts
            required property int denied
            required property var hosts
            readonly property real diameter: view.smallest + (view.largest - view.smallest) * size
            readonly property string tip: view.placeText(name, bytes, attempts, denied, hosts)
            readonly property bool hovered: hover.hovered

            objectName: "worldPlace-" + name
            x: view.originX + mapX * view.mapScale - diameter / 2
            y: view.originY + mapY * view.mapScale - diameter / 2
            width: diameter
            height: diameter
            radius: diameter / 2
            color: Qt.alpha(denied > 0 && bytes === 0 ? Kirigami.Theme.negativeTextColor
                                                        : Kirigami.Theme.highlightColor,
                            hover.hovered ? 0.95 : 0.7)
            border.color: Kirigami.Theme.backgroundColor
            border.width: 1
            Controls.ToolTip.text: tip
            Controls.ToolTip.visible: hovered
            HoverHandler { id: hover; cursorShape: Qt.PointingHandCursor }
            TapHandler { onTapped: view.openHosts(dot.hosts, dot) }
        }
    }

    ColumnLayout {  // this network, and the places the database does not know
        anchors.left: parent.left
        anchors.bottom: parent.bottom
        spacing: Kirigami.Units.smallSpacing
        Repeater {
            model: view.map.apart
            delegate: Controls.Button {
                required property string key
                required property string name
                required property double bytes
                required property int attempts
                required property int denied
                required property var hosts
                objectName: "worldApart-" + key
                flat: true
                icon.name: key === "local" ? "network-wired" : key === "unknown" ? "question" : "flag"
                text: Format.count(hosts.length, qsTr("%1: %n host, %2"), qsTr("%1: %n hosts, %2"))
                      .arg(name).arg(Format.bytes(bytes))
                Controls.ToolTip.text: view.placeText(name, bytes, attempts, denied, hosts)
                Controls.ToolTip.visible: hovered
                onClicked: view.openHosts(hosts, this)
            }
        }
    }

    ColumnLayout {  // the database's state and its credit
        anchors.right: parent.right
        anchors.bottom: parent.bottom
        spacing: 0
        Controls.Label {
            objectName: "worldDatabaseOff"
            Layout.alignment: Qt.AlignRight
            visible: view.database !== null && !view.database.loaded
            text: view.database && view.database.enabled
                  ? (view.database.problem ? qsTr("The location database could not be loaded: %1").arg(view.database.problem)
                                           : qsTr("Downloading the location database…"))
                  : qsTr("Places need the location database: turn it on in <a href=\"settings\">Settings</a>.")
            textFormat: view.database && view.database.enabled ? Text.PlainText : Text.StyledText
            onLinkActivated: view.settingsWanted()
        }
        Controls.Label {
            objectName: "worldCredit"
            Layout.alignment: Qt.AlignRight
            visible: view.database !== null && view.database.loaded && text !== ""
            text: view.database ? view.database.credit : ""
            textFormat: Text.StyledText
            font: Kirigami.Theme.smallFont
            opacity: 0.8
            onLinkActivated: link => view.database.openLink(link)
            HoverHandler { cursorShape: parent.hoveredLink ? Qt.PointingHandCursor : Qt.ArrowCursor }
        }
    }

    Controls.Menu {
        id: hostMenu
        objectName: "worldHostMenu"
        property var hosts: []
        Instantiator {
            model: hostMenu.hosts
            delegate: Controls.MenuItem {
                required property string modelData
                text: modelData
                onTriggered: view.hostClicked(modelData)
            }
            onObjectAdded: (index, item) => hostMenu.insertItem(index, item)
            onObjectRemoved: (index, item) => hostMenu.removeItem(item)
        }
    }
}
