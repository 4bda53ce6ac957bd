// talkinghead viewer: deforms and draws the arkit52 rig from live motion frames.
// The math (rotation, deform) mirrors talkinghead/rigs/arkit52.py and is checked against it by
// tests/test_websocket.py under node; the drawing is a painter's-algorithm canvas 2D render.
(function (root) {
  "use strict";

  // R = Ry(yaw) Rx(pitch) Rz(roll), row-major 3x3, as arkit52.rotation.
  function rotation(pitch, yaw, roll) {
    const cp = Math.cos(pitch), sp = Math.sin(pitch), cy = Math.cos(yaw), sy = Math.sin(yaw);
    const cr = Math.cos(roll), sr = Math.sin(roll);
    const rx = [1, 0, 0, 0, cp, -sp, 0, sp, cp];
    const ry = [cy, 0, sy, 0, 1, 0, -sy, 0, cy];
    const rz = [cr, -sr, 0, sr, cr, 0, 0, 0, 1];
    return multiply(multiply(ry, rx), rz);
  }

  function multiply(a, b) {
    const out = new Array(9);
    for (let i = 0; i < 3; i++)
      for (let j = 0; j < 3; j++)
        out[3 * i + j] = a[3 * i] * b[j] + a[3 * i + 1] * b[3 + j] + a[3 * i + 2] * b[6 + j];
    return out;
  }

  // Vertices (flat x, y, z) of the rig for one frame's {channel: value} map, head rotation included.
  function deform(rig, values) {
    const v = Float64Array.from(rig.neutral);
    rig.shapes.forEach(function (name, k) {
      const w = values[name] || 0;
      if (w === 0) return;
      const delta = rig.basis[k];
      for (let i = 0; i < v.length; i++) v[i] += w * delta[i];
    });
    const r = rotation(values.headPitch || 0, values.headYaw || 0, values.headRoll || 0);
    const p = rig.pivot;
    for (let i = 0; i < v.length; i += 3) {
      const x = v[i] - p[0], y = v[i + 1] - p[1], z = v[i + 2] - p[2];
      v[i] = r[0] * x + r[1] * y + r[2] * z + p[0];
      v[i + 1] = r[3] * x + r[4] * y + r[5] * z + p[1];
      v[i + 2] = r[6] * x + r[7] * y + r[8] * z + p[2];
    }
    return v;
  }

  // Screen placement fitted once to the neutral face: +y up in the rig, down on the canvas.
  function fit(rig, width, height) {
    const n = rig.neutral, lo = [Infinity, Infinity], hi = [-Infinity, -Infinity];
    for (let i = 0; i < n.length; i += 3)
      for (let a = 0; a < 2; a++) { lo[a] = Math.min(lo[a], n[i + a]); hi[a] = Math.max(hi[a], n[i + a]); }
    const scale = 0.8 * Math.min(width / (hi[0] - lo[0]), height / (hi[1] - lo[1]));
    return { cx: (lo[0] + hi[0]) / 2, cy: (lo[1] + hi[1]) / 2, scale: scale, width: width, height: height };
  }

  const LIGHT = (function () { const l = [0.3, 0.5, 1.0], n = Math.hypot(l[0], l[1], l[2]); return l.map(function (x) { return x / n; }); })();

  function polygon(ctx, v, view, loop, fill) {
    ctx.beginPath();
    loop.forEach(function (i, k) {
      const x = view.width / 2 + (v[3 * i] - view.cx) * view.scale;
      const y = view.height / 2 - (v[3 * i + 1] - view.cy) * view.scale;
      if (k === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
    });
    ctx.closePath();
    ctx.fillStyle = fill;
    ctx.fill();
  }

  // Per-vertex Lambert shade from area-weighted vertex normals (facing the viewer, +z), so the
  // flat-filled triangles of a canvas still read as a smooth face.
  function vertexShades(rig, v) {
    const t = rig.triangles, normals = new Float64Array(v.length), shades = new Float64Array(v.length / 3);
    for (let f = 0; f < t.length; f += 3) {
      const a = 3 * t[f], b = 3 * t[f + 1], d = 3 * t[f + 2];
      const e1 = [v[b] - v[a], v[b + 1] - v[a + 1], v[b + 2] - v[a + 2]];
      const e2 = [v[d] - v[a], v[d + 1] - v[a + 1], v[d + 2] - v[a + 2]];
      const n = [e1[1] * e2[2] - e1[2] * e2[1], e1[2] * e2[0] - e1[0] * e2[2], e1[0] * e2[1] - e1[1] * e2[0]];
      for (const i of [a, b, d]) for (let k = 0; k < 3; k++) normals[i + k] += n[k];
    }
    for (let i = 0; i < shades.length; i++) {
      const n = normals.subarray(3 * i, 3 * i + 3), len = Math.hypot(n[0], n[1], n[2]) || 1;
      const sign = n[2] < 0 ? -1 : 1;
      shades[i] = 0.35 + 0.65 * Math.max(0, sign * (n[0] * LIGHT[0] + n[1] * LIGHT[1] + n[2] * LIGHT[2]) / len);
    }
    return shades;
  }

  // An eye opening: white, with an iris clipped to the lids (a blink closes it with them).
  function eye(ctx, v, view, loop) {
    let x = 0, y = 0, lo = Infinity, hi = -Infinity;
    loop.forEach(function (i) {
      const px = view.width / 2 + (v[3 * i] - view.cx) * view.scale;
      x += px; y += view.height / 2 - (v[3 * i + 1] - view.cy) * view.scale;
      lo = Math.min(lo, px); hi = Math.max(hi, px);
    });
    x /= loop.length; y /= loop.length;
    ctx.save();
    polygon(ctx, v, view, loop, "#f1ece6");
    ctx.clip();
    ctx.beginPath();
    ctx.arc(x, y, 0.22 * (hi - lo), 0, 2 * Math.PI);
    ctx.fillStyle = "#4a3426";
    ctx.fill();
    ctx.beginPath();
    ctx.arc(x, y, 0.09 * (hi - lo), 0, 2 * Math.PI);
    ctx.fillStyle = "#111111";
    ctx.fill();
    ctx.restore();
  }

  // Mouth and eye openings first, then triangles far to near.
  function draw(ctx, rig, v, view) {
    ctx.fillStyle = "#ffffff";
    ctx.fillRect(0, 0, view.width, view.height);
    polygon(ctx, v, view, rig.mouth, "#3a1414");
    (rig.eyes || []).forEach(function (loop) { eye(ctx, v, view, loop); });
    const t = rig.triangles, c = rig.colors, shade = vertexShades(rig, v);
    const count = t.length / 3, order = new Array(count), depth = new Float64Array(count);
    for (let f = 0; f < count; f++) {
      order[f] = f;
      depth[f] = v[3 * t[3 * f] + 2] + v[3 * t[3 * f + 1] + 2] + v[3 * t[3 * f + 2] + 2];
    }
    order.sort(function (a, b) { return depth[a] - depth[b]; });
    for (const f of order) {
      const ids = [t[3 * f], t[3 * f + 1], t[3 * f + 2]];
      const rgb = [0, 1, 2].map(function (k) {
        let sum = 0;
        for (const i of ids) sum += shade[i] * c[3 * i + k];
        return Math.round(255 * Math.min(1, sum / 3));
      });
      const style = "rgb(" + rgb.join(",") + ")";
      polygon(ctx, v, view, ids, style);
      ctx.strokeStyle = style;   // hides the hairline seams between filled triangles
      ctx.lineWidth = 0.6;
      ctx.stroke();
    }
  }

  // Rigs without geometry here (dhlive6, flame): one bar per channel.
  function bars(ctx, channels, values, width, height) {
    ctx.fillStyle = "#ffffff";
    ctx.fillRect(0, 0, width, height);
    const h = height / Math.max(channels.length, 1);
    ctx.font = Math.min(14, h * 0.8) + "px sans-serif";
    channels.forEach(function (name, i) {
      const w = Math.max(-1, Math.min(1, values[name] || 0));
      ctx.fillStyle = "#8eb3f7";
      ctx.fillRect(width / 2, i * h + 1, (w * width) / 2.2, h - 2);
      ctx.fillStyle = "#222222";
      ctx.fillText(name, 4, (i + 0.8) * h);
    });
  }

  const api = { rotation: rotation, deform: deform, fit: fit, draw: draw, bars: bars };
  if (typeof module !== "undefined" && module.exports) module.exports = api;
  else root.TalkingHeadViewer = api;
})(this);
