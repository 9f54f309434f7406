"""Make the world map's outline, app/models/world-110m.json, from Natural Earth's 1:110m
countries as the npm package world-atlas 2.0.2 carries them (TopoJSON).

    npm pack world-atlas@2.0.2 && tar xzf world-atlas-2.0.2.tgz
    python3 tools/world_outline.py package/countries-110m.json \
        --points package/countries-10m.json > app/models/world-110m.json

Natural Earth is in the public domain; world-atlas is ISC-licensed (Mike Bostock). Each
country becomes one SVG path in an equirectangular projection (x = longitude + 180, y =
84 - latitude, in degrees; Antarctica left out), simplified (Douglas-Peucker, 0.1°) and
rounded to 0.1°, with its ISO 3166-1 alpha-2 code (from the iso-codes package, by the
numeric code world-atlas gives), its name, and a point to put a dot on: the centre of its
largest polygon. Countries too small for the 1:110m file (Singapore, Malta, Monaco, ...)
get a point only, from the 1:10m file of the same package, without an outline. The
output is the same for the same input.
"""

import argparse
import itertools
import json
import sys
from collections.abc import Iterable

TOP, BOTTOM = 84.0, -60.0  # latitudes kept
TOLERANCE = 0.1  # degrees
ISO_CODES = "/usr/share/iso-codes/json/iso_3166-1.json"
NO_NUMERIC = {"Kosovo": "XK"}  # countries world-atlas gives no numeric code, with one
SOURCE = ("Natural Earth 1:110m Admin 0 countries (public domain), "
          "via world-atlas 2.0.2 (ISC)")  # fmt: skip

Point = tuple[float, float]


def decoded_arcs(topology: dict) -> list[list[Point]]:
    """The topology's arcs as (longitude, latitude) points (delta-decoded, unquantized)."""
    (sx, sy), (tx, ty) = topology["transform"]["scale"], topology["transform"]["translate"]
    arcs = []
    for arc in topology["arcs"]:
        x = y = 0
        points = []
        for dx, dy in arc:
            x, y = x + dx, y + dy
            points.append((x * sx + tx, y * sy + ty))
        arcs.append(points)
    return arcs


def ring(indexes: Iterable[int], arcs: list[list[Point]]) -> list[Point]:
    """A polygon's ring from its arc indexes (a negative index: that arc reversed), made
    continuous across the antimeridian (Russia's, Fiji's: their far side past 180°E,
    which the view clips, rather than a band across the whole map)."""
    points: list[Point] = []
    for index in indexes:
        arc = arcs[index] if index >= 0 else arcs[~index][::-1]
        points.extend(arc if not points else arc[1:])
    shift, unwrapped = 0.0, points[:1]
    for (previous, _), (longitude, latitude) in itertools.pairwise(points):
        if longitude - previous > 180:
            shift -= 360
        elif longitude - previous < -180:
            shift += 360
        unwrapped.append((longitude + shift, latitude))
    if sum(x for x, _ in unwrapped) / len(unwrapped) < -180:
        unwrapped = [(x + 360, y) for x, y in unwrapped]
    return unwrapped


def simplified(points: list[Point], tolerance: float) -> list[Point]:
    """Douglas-Peucker: the points that keep the line within `tolerance`."""
    if len(points) < 3:
        return points
    (x1, y1), (x2, y2) = points[0], points[-1]
    dx, dy = x2 - x1, y2 - y1
    length = (dx * dx + dy * dy) ** 0.5
    farthest, at = -1.0, 0
    for i, (x, y) in enumerate(points[1:-1], 1):
        if length:
            distance = abs(dy * x - dx * y + x2 * y1 - y2 * x1) / length
        else:
            distance = ((x - x1) ** 2 + (y - y1) ** 2) ** 0.5
        if distance > farthest:
            farthest, at = distance, i
    if farthest <= tolerance:
        return [points[0], points[-1]]
    return simplified(points[: at + 1], tolerance)[:-1] + simplified(points[at:], tolerance)


def projected(point: Point) -> tuple[int, int]:
    """A point in tenths of a degree on the map (x right from 180°W, y down from 84°N)."""
    longitude, latitude = point
    return round((longitude + 180) * 10), round((TOP - max(BOTTOM, latitude)) * 10)


def path(rings: list[list[Point]]) -> str:
    """SVG path data of `rings` in degrees: an absolute move to the first ring (the
    paths of countries are joined), relative steps after it."""
    out, last = [], (0, 0)
    for points in rings:
        cells = []
        for point in simplified(points, TOLERANCE):
            cell = projected(point)
            if not cells or cell != cells[-1]:
                cells.append(cell)
        if len(cells) < 3:
            continue
        (x, y), (lx, ly) = cells[0], last
        move = f"M{_pair(x, y)}" if not out else f"m{_pair(x - lx, y - ly)}"
        steps = [_pair(b[0] - a[0], b[1] - a[1]) for a, b in itertools.pairwise(cells)]
        out.append(f"{move}l{' '.join(steps)}z")
        last = cells[0]  # after z the pen is back at the ring's start
    return "".join(out)


def _pair(x: int, y: int) -> str:
    """A point or a step in tenths of a degree, written in degrees."""
    return f"{x / 10:g} {y / 10:g}"


def area_and_centre(points: list[Point]) -> tuple[float, Point]:
    """A ring's area (absolute) and centroid."""
    area = cx = cy = 0.0
    for (x1, y1), (x2, y2) in zip(points, points[1:] + points[:1], strict=False):
        cross = x1 * y2 - x2 * y1
        area += cross
        cx += (x1 + x2) * cross
        cy += (y1 + y2) * cross
    if not area:
        return 0.0, points[0]
    return abs(area / 2), (cx / (3 * area), cy / (3 * area))


def countries(topology: dict, alpha2: dict[str, str], outlined: bool = True) -> list[dict]:
    """Each country of `topology` (but Antarctica): code, name, the centre of its largest
    polygon, and its outline as SVG path data ("" unless `outlined`)."""
    arcs = decoded_arcs(topology)
    found = []
    for geometry in topology["objects"]["countries"]["geometries"]:
        name = geometry["properties"]["name"]
        if name == "Antarctica" or geometry.get("type") not in ("Polygon", "MultiPolygon"):
            continue
        polygons = geometry["arcs"] if geometry["type"] == "MultiPolygon" else [geometry["arcs"]]
        outer = [ring(polygon[0], arcs) for polygon in polygons]
        _area, (longitude, latitude) = max(area_and_centre(r) for r in outer)
        longitude = (longitude + 180) % 360 - 180
        code = alpha2.get(geometry.get("id", ""), NO_NUMERIC.get(name, ""))
        rings = [ring(r, arcs) for polygon in polygons for r in polygon] if outlined else []
        found.append({"code": code, "name": name, "longitude": round(longitude, 1),
                      "latitude": round(latitude, 1), "path": path(rings)})  # fmt: skip
    return sorted(found, key=lambda c: (c["code"] or "~", c["name"]))


def with_points(outlined: list[dict], points: list[dict]) -> list[dict]:
    """`outlined`, and of `points` the countries with a code that `outlined` lacks."""
    known = {c["code"] for c in outlined}
    extra = [c for c in points if c["code"] and c["code"] not in known]
    return sorted(outlined + extra, key=lambda c: (c["code"] or "~", c["name"]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("topojson", help="countries-110m.json of world-atlas 2.0.2")
    parser.add_argument("--points", help="countries-10m.json: points of the countries left out")
    parser.add_argument("--iso-codes", default=ISO_CODES, help="iso_3166-1.json (iso-codes)")
    args = parser.parse_args()
    with open(args.topojson) as file:
        topology = json.load(file)
    with open(args.iso_codes) as file:
        alpha2 = {c["numeric"]: c["alpha_2"] for c in json.load(file)["3166-1"]}
    found = countries(topology, alpha2)
    if args.points:
        with open(args.points) as file:
            found = with_points(found, countries(json.load(file), alpha2, outlined=False))
    outline = {"source": SOURCE, "projection": "equirectangular", "top": TOP, "bottom": BOTTOM,
               "countries": found}  # fmt: skip
    json.dump(outline, sys.stdout, separators=(",", ":"))
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
