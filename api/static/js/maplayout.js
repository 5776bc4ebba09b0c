// The grid map's layout, pure geometry (no DOM): project a district's cells, decide whether their real polygons
// can be drawn so that none hides another, else tile the drawing from the cells' centroids (a Voronoi diagram
// of the centroids, pushed apart to a minimum spacing and each cell bounded by a disc), place labels that fit,
// and compute an offline background (a graticule in degrees and a scale bar).
//
// A cell is {id, name, ring?: [[lon, lat]], site?: [lon, lat]}. layoutCells() returns
// {mode: "polygons" | "tiles", cells: [{id, ring?: [[x, y]], circle?: {x, y, r}, hit: [x, y] (a point
// of the cell that nothing covers), at, label, labelAt, box}], grid, scale}
// in the drawing's pixel coordinates (W x H); cells come in drawing order (the last is on top).

const MIN_VISIBLE = 0.55;   // a polygon with less than this share of its area visible makes the district tiled
const MIN_VISIBLE_PX = 180; // ... or with less than this many square pixels visible

export function polygonArea(ring) {
  let a = 0;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) a += (ring[j][0] + ring[i][0]) * (ring[j][1] - ring[i][1]);
  return Math.abs(a / 2);
}

export function inside([x, y], ring) {
  let hit = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const [xi, yi] = ring[i], [xj, yj] = ring[j];
    if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) hit = !hit;
  }
  return hit;
}

function mean(pts) {
  return pts.reduce((acc, p) => [acc[0] + p[0] / pts.length, acc[1] + p[1] / pts.length], [0, 0]);
}

function bbox(pts) {
  const xs = pts.map((p) => p[0]), ys = pts.map((p) => p[1]);
  return [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)];
}

/** Keep the part of a convex polygon where a*x + b*y <= c (Sutherland-Hodgman against one half-plane). */
function clipHalf(poly, a, b, c) {
  const out = [];
  for (let i = 0; i < poly.length; i++) {
    const p = poly[i], q = poly[(i + 1) % poly.length];
    const fp = a * p[0] + b * p[1] - c, fq = a * q[0] + b * q[1] - c;
    if (fp <= 0) out.push(p);
    if ((fp < 0 && fq > 0) || (fp > 0 && fq < 0)) {
      const k = fp / (fp - fq);
      out.push([p[0] + k * (q[0] - p[0]), p[1] + k * (q[1] - p[1])]);
    }
  }
  return out;
}

function disc(x, y, r, n = 28) {
  return Array.from({ length: n }, (_, i) => [x + r * Math.cos((2 * Math.PI * i) / n), y + r * Math.sin((2 * Math.PI * i) / n)]);
}

/** Equirectangular projection (longitudes shrunk by cos of the mean latitude) fitted to the points. */
export function fitProjection(pts, W, H, pad) {
  const [x0, y0, x1, y1] = bbox(pts);
  const k = Math.cos((((y0 + y1) / 2) * Math.PI) / 180);
  const spanX = Math.max((x1 - x0) * k, 1e-6), spanY = Math.max(y1 - y0, 1e-6);
  const scale = Math.min((W - 2 * pad) / spanX, (H - 2 * pad) / spanY, 4e5);  // px per degree of latitude
  const ox = (W - spanX * scale) / 2, oy = (H - spanY * scale) / 2;
  const project = ([lon, lat]) => [ox + (lon - x0) * k * scale, H - oy - (lat - y0) * scale];
  const invert = ([x, y]) => [x0 + (x - ox) / (k * scale), y0 + (H - oy - y) / scale];
  return { project, invert, scale };
}

/** How much of each shape (drawn in order, later on top) stays visible, and the visible point deepest inside it. */
function visibility(shapes, step) {
  return shapes.map((sh, i) => {
    const [x0, y0, x1, y1] = bbox(sh.ring);
    const above = shapes.slice(i + 1).filter((o) => {
      const [a0, b0, a1, b1] = o.box;
      return a0 <= x1 && a1 >= x0 && b0 <= y1 && b1 >= y0;
    });
    let total = 0;
    const seen = [];
    for (let x = x0 + step / 2; x < x1; x += step) {
      for (let y = y0 + step / 2; y < y1; y += step) {
        if (!inside([x, y], sh.ring)) continue;
        total++;
        if (!above.some((o) => inside([x, y], o.ring))) seen.push([x, y]);
      }
    }
    const share = total ? seen.length / total : 0;
    // the visible sample farthest from any edge (its own and those of the shapes on top)
    const edges = [sh.ring, ...above.map((o) => o.ring)];
    let best = seen.length ? seen[0] : mean(sh.ring), depth = -1;
    const stride = Math.max(1, Math.floor(seen.length / 400));
    for (let n = 0; n < seen.length; n += stride) {
      const d = Math.min(...edges.map((r) => edgeDistance(seen[n], r)));
      if (d > depth) { depth = d; best = seen[n]; }
    }
    return { share, px: seen.length * step * step, at: best };
  });
}

function edgeDistance([x, y], ring) {
  let d = Infinity;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const [ax, ay] = ring[j], [bx, by] = ring[i];
    const dx = bx - ax, dy = by - ay, len = dx * dx + dy * dy || 1;
    const k = Math.max(0, Math.min(1, ((x - ax) * dx + (y - ay) * dy) / len));
    d = Math.min(d, Math.hypot(x - (ax + k * dx), y - (ay + k * dy)));
  }
  return d;
}

/** Push sites apart until every pair is at least ``min`` pixels apart (or the iterations run out), inside the frame. */
function spread(sites, min, frame) {
  const pts = sites.map((p, i) => [p[0] + Math.cos(i) * 1e-3, p[1] + Math.sin(i) * 1e-3]);
  for (let it = 0; it < 200; it++) {
    let moved = false;
    for (let i = 0; i < pts.length; i++) {
      for (let j = i + 1; j < pts.length; j++) {
        const dx = pts[j][0] - pts[i][0], dy = pts[j][1] - pts[i][1], d = Math.hypot(dx, dy) || 1e-6;
        if (d >= min) continue;
        const push = (min - d) / 2 + 0.01, ux = dx / d, uy = dy / d;
        pts[i][0] -= ux * push; pts[i][1] -= uy * push; pts[j][0] += ux * push; pts[j][1] += uy * push;
        moved = true;
      }
    }
    for (const p of pts) {
      p[0] = Math.min(Math.max(p[0], frame[0]), frame[2]);
      p[1] = Math.min(Math.max(p[1], frame[1]), frame[3]);
    }
    if (!moved) break;
  }
  return pts;
}

/** Voronoi cells of the sites, each bounded by the frame and a disc of radius ``r`` around its site. */
function voronoi(sites, r, frame) {
  return sites.map((si, i) => {
    let poly = disc(si[0], si[1], r);
    poly = clipHalf(poly, -1, 0, -frame[0]); poly = clipHalf(poly, 1, 0, frame[2]);
    poly = clipHalf(poly, 0, -1, -frame[1]); poly = clipHalf(poly, 0, 1, frame[3]);
    sites.forEach((sj, j) => {
      if (i === j || !poly.length) return;
      const a = 2 * (sj[0] - si[0]), b = 2 * (sj[1] - si[1]);
      poly = clipHalf(poly, a, b, sj[0] ** 2 + sj[1] ** 2 - si[0] ** 2 - si[1] ** 2 - 2);  // a 1 px gap between cells
    });
    return poly;
  });
}

/** The horizontal run of ``ring`` through ``at`` (the room a label centred there has). */
function runThrough(at, ring) {
  const xs = [];
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const [xi, yi] = ring[i], [xj, yj] = ring[j];
    if ((yi > at[1]) !== (yj > at[1])) xs.push(xi + ((at[1] - yi) * (xj - xi)) / (yj - yi));
  }
  xs.sort((a, b) => a - b);
  for (let k = 0; k + 1 < xs.length; k += 2) if (xs[k] <= at[0] && at[0] <= xs[k + 1]) return [xs[k], xs[k + 1]];
  return [at[0], at[0]];
}

function widest([a, b], x, half) { return [Math.min(a, x - half), Math.max(b, x + half)]; }

/** Estimated width of a label in pixels (CJK glyphs are square, Latin ones about 0.58 em in bold). */
export function textWidth(text, size) {
  let w = 0;
  for (const ch of text) w += ch.codePointAt(0) >= 0x2e80 ? size : size * 0.6;
  return w;
}

/** The longest form of ``name`` that fits ``room`` pixels: whole, its first part before " / ", or cut with "…". */
export function fitLabel(name, room, size) {
  if (textWidth(name, size) <= room) return name;
  const first = name.split(" / ")[0];
  if (first !== name && textWidth(`${first}…`, size) <= room) return `${first}…`;
  for (let n = Math.min(first.length, name.length) - 1; n >= 2; n--) {
    const cut = `${[...first].slice(0, n).join("").trimEnd()}…`;
    if (textWidth(cut, size) <= room) return cut;
  }
  return "";
}

function niceStep(span, target) {
  const raw = span / target, mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
}

/** Graticule lines (every nice step of degrees) across the drawing, and a scale bar of a round number of km. */
function background(proj, W, H) {
  const [lon0, lat0] = proj.invert([0, H]), [lon1, lat1] = proj.invert([W, 0]);
  const stepLat = niceStep(lat1 - lat0, 5), stepLon = niceStep(lon1 - lon0, 7);
  const dec = (st) => Math.max(0, -Math.floor(Math.log10(st) + 1e-9));
  const lines = [];
  for (let v = Math.ceil(lon0 / stepLon) * stepLon; v <= lon1; v += stepLon) {
    const [x] = proj.project([v, lat0]);
    lines.push({ x1: x, y1: 0, x2: x, y2: H, label: `${Math.abs(v).toFixed(dec(stepLon))}°${v < 0 ? "W" : "E"}`, axis: "lon" });
  }
  for (let v = Math.ceil(lat0 / stepLat) * stepLat; v <= lat1; v += stepLat) {
    const [, y] = proj.project([lon0, v]);
    lines.push({ x1: 0, y1: y, x2: W, y2: y, label: `${Math.abs(v).toFixed(dec(stepLat))}°${v < 0 ? "S" : "N"}`, axis: "lat" });
  }
  const pxPerKm = proj.scale / 111.32;
  const km = [0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200].find((k) => k * pxPerKm >= 60) ?? 200;
  return { lines, scale: { km, px: km * pxPerKm } };
}

/**
 * Lay out a district's cells in a W x H drawing. ``cells``: [{id, name, ring?, site?}] in lon/lat.
 * ``radius``: the circle of a cell that has a centroid only (in the polygon layout).
 */
export function layoutCells(cells, { W, H, pad = 30, radius = 14, size = 12 }) {
  const withSite = cells.map((c) => ({ ...c, site: c.site || (c.ring ? mean(c.ring) : null) })).filter((c) => c.site);
  if (!withSite.length) return { mode: "polygons", cells: [], grid: { lines: [], scale: null } };
  const pts = withSite.flatMap((c) => c.ring || [c.site]);
  const proj = fitProjection(pts, W, H, pad + radius);
  let shapes = withSite.map((c) => {
    const ring = c.ring ? c.ring.map(proj.project) : null;
    const site = proj.project(c.site);
    const outline = ring || disc(site[0], site[1], radius, 20);
    return { c, ring, site, outline, box: bbox(outline), area: polygonArea(outline) };
  });
  shapes.sort((a, b) => b.area - a.area);  // the smaller on top
  const vis = visibility(shapes.map((sh) => ({ ring: sh.outline, box: sh.box })), 3);
  const hidden = vis.some((v) => v.share < MIN_VISIBLE || v.px < MIN_VISIBLE_PX);
  const frame = [pad, pad, W - pad, H - pad];
  let out;
  if (!hidden) {
    out = shapes.map((sh, i) => ({
      id: sh.c.id, name: sh.c.name, ring: sh.ring,
      circle: sh.ring ? null : { x: sh.site[0], y: sh.site[1], r: radius },
      hit: sh.ring ? vis[i].at : sh.site,
      at: sh.ring ? vis[i].at : [sh.site[0], sh.site[1] + radius + size * 0.8],
      // separate polygons leave room around them: a label may run past its polygon's edge (it has a halo)
      room: widest(sh.ring ? runThrough(vis[i].at, sh.outline) : [sh.site[0], sh.site[0]], sh.ring ? vis[i].at[0] : sh.site[0], 80),
    }));
  } else {
    shapes = withSite.map((c) => ({ c, site: proj.project(c.site) }));
    const n = shapes.length;
    const min = Math.max(26, Math.min(70, Math.sqrt(((W - 2 * pad) * (H - 2 * pad)) / n) * 0.55));
    const sites = spread(shapes.map((sh) => sh.site), min, frame);
    const rings = voronoi(sites, min * 1.6, frame);
    out = shapes.map((sh, i) => {
      const at = sites[i];
      return { id: sh.c.id, name: sh.c.name, ring: rings[i], circle: null, hit: at, at, room: runThrough(at, rings[i]) };
    });
  }
  // labels: fit each to its room (and the drawing), then drop the parts that would overprint a label placed before
  const placed = [];
  const order = out.map((c, i) => i).sort((a, b) => (out[b].room[1] - out[b].room[0]) - (out[a].room[1] - out[a].room[0]));
  for (const i of order) {
    const c = out[i];
    const room = Math.min(c.room[1] - c.room[0] - 4, W - 8);
    let label = fitLabel(c.name, room, size);
    let box = null;
    if (label) {
      const w = textWidth(label, size);
      const x = Math.min(Math.max(c.at[0], 4 + w / 2), W - 4 - w / 2);
      box = { x: x - w / 2, y: c.at[1] - size * 0.55, w, h: size * 1.1 };
      if (placed.some((b) => b.x < box.x + box.w && box.x < b.x + b.w && b.y < box.y + box.h && box.y < b.y + b.h)) { label = ""; box = null; }
      else { placed.push(box); c.labelAt = [x, c.at[1] + size * 0.35]; }
    }
    c.label = label;
    c.box = box;
  }
  return { mode: hidden ? "tiles" : "polygons", cells: out, grid: background(proj, W, H) };
}
