"""The models QML pages bind to (QAbstractListModel and friends), one per subject."""
