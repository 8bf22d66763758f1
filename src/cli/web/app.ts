// The web dashboard's script, run in the browser: renders q's view into the five panes and the
// two 24 h charts, live from /events. Served as the text of this one function (app.js), so it
// must use nothing from outside its body. Every user-controlled string goes in as textContent.
/* eslint-disable @typescript-eslint/no-explicit-any */

export function dashboardApp(): void {
  const $ = (id: string): HTMLElement => document.getElementById(id)!;
  const SVG = 'http://www.w3.org/2000/svg';
  /** Colours c0..c9 are the style sheet's (page.ts). */
  const COLOURS = 10;

  const cell = (text: unknown, cls?: string): HTMLTableCellElement => {
    const td = document.createElement('td');
    td.textContent = text === null || text === undefined || text === '' ? '-' : String(text);
    if (cls) td.className = cls;
    return td;
  };
  const row = (cells: HTMLTableCellElement[], cls?: string): HTMLTableRowElement => {
    const tr = document.createElement('tr');
    if (cls) tr.className = cls;
    tr.append(...cells);
    return tr;
  };
  const fill = (id: string, rows: HTMLTableRowElement[], empty: string, columns: number): void => {
    const body = $(id);
    if (rows.length === 0) {
      const td = cell(empty, 'empty');
      td.colSpan = columns;
      rows = [row([td])];
    }
    body.replaceChildren(...rows);
  };
  const time = (iso: string | null): string => (iso ? new Date(iso).toLocaleString() : '-');
  const ago = (iso: string | null): string => {
    if (!iso) return '-';
    const s = Math.round((Date.now() - Date.parse(iso)) / 1000);
    if (Math.abs(s) < 90) return `${s} s ago`;
    if (Math.abs(s) < 5400) return `${Math.round(s / 60)} min ago`;
    return `${Math.round(s / 3600)} h ago`;
  };
  const bytes = (n: number | null | undefined): string => {
    if (n === null || n === undefined) return '-';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) {
      n /= 1024;
      i += 1;
    }
    return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
  };
  const pct = (n: number | null | undefined): string => (n === null || n === undefined ? '-' : `${Math.round(n)} %`);
  const FINISHED = ['done', 'failed', 'cancelled', 'rejected'];
  let lastPass: { at: number; ms: number } | null = null;
  let view: any = null;

  function renderStatus(): void {
    const list = $('status-list');
    const items: [string, string, string?][] = [];
    const d = view.daemon;
    items.push([
      'Server',
      d.running ? `${d.host ?? '?'} (daemon pid ${d.pid}, up since ${time(d.since)})` : 'daemon not running',
      d.running ? 'ok' : 'bad',
    ]);
    items.push([
      'Engine',
      d.engine ? (d.engine.reachable ? 'reachable' : `unreachable since ${time(d.engine.since)}`) : 'unknown',
      d.engine?.reachable ? 'ok' : 'bad',
    ]);
    const idle = new Set(view.jobs.filter((j: any) => j.state === 'running' && j.idle).flatMap((j: any) => j.gpus));
    const counts = { free: 0, held: 0, idle: 0, foreign: 0 };
    for (const gpu of view.gpus) {
      if (gpu.state === 'free') counts.free += 1;
      else if (gpu.state === 'busy') counts.foreign += 1;
      else if (idle.has(gpu.id)) counts.idle += 1;
      else counts.held += 1;
    }
    items.push([
      'GPUs',
      `${counts.free} free, ${counts.held} held, ${counts.idle} idle, ${counts.foreign} foreign (of ${view.gpus_total})`,
    ]);
    items.push(['Policy', view.policy + (view.paused ? ` (paused by ${view.paused.by})` : '')]);
    items.push(['Last pass', lastPass ? `${ago(new Date(lastPass.at).toISOString())} (${lastPass.ms} ms)` : '-']);
    items.push(['View of', time(view.generated_at)]);
    if (d.state_not_saved) items.push(['State', `not saved since ${time(d.state_not_saved.since)}: ${d.state_not_saved.error}`, 'bad']);
    list.replaceChildren(
      ...items.flatMap(([term, value, cls]) => {
        const dt = document.createElement('dt');
        dt.textContent = term;
        const dd = document.createElement('dd');
        dd.textContent = value;
        if (cls) dd.className = cls;
        return [dt, dd];
      }),
    );
  }

  function render(): void {
    renderStatus();
    fill(
      'users-body',
      view.users.map((u: any) =>
        row([
          cell(u.user),
          cell(u.share, 'num'),
          cell(u.usage_gpu_hours.toFixed(2), 'num'),
          cell(u.penalty === null ? null : u.penalty.toFixed(2), 'num'),
          cell(u.running, 'num'),
          cell(u.queued, 'num'),
          cell(u.gpus_held, 'num'),
        ]),
      ),
      'no users',
      7,
    );
    const running = view.jobs.filter((j: any) => j.state === 'running');
    fill(
      'running-body',
      running.map((j: any) =>
        row(
          [
            cell(j.id, 'num'),
            cell(j.name + (j.idle ? ' (idle)' : '')),
            cell(j.user),
            cell(j.gpus.join(',')),
            cell(time(j.started_at)),
            cell(pct(j.usage?.cpu_percent), 'num'),
            cell(j.usage ? `${bytes(j.usage.memory_bytes)} / ${bytes(j.usage.memory_limit_bytes)}` : null, 'num'),
            cell(pct(j.usage?.gpu_util_percent), 'num'),
            cell(j.usage?.gpu_memory_mib === null || j.usage?.gpu_memory_mib === undefined ? null : `${j.usage.gpu_memory_mib} MiB`, 'num'),
          ],
          j.idle ? 'idle' : undefined,
        ),
      ),
      'nothing running',
      9,
    );
    const queued = view.jobs
      .filter((j: any) => j.state === 'queued' || j.state === 'building')
      .sort((a: any, b: any) => (a.position ?? Infinity) - (b.position ?? Infinity) || a.id - b.id);
    fill(
      'queued-body',
      queued.map((j: any) =>
        row([
          cell(j.position, 'num'),
          cell(j.id, 'num'),
          cell(j.name),
          cell(j.user),
          cell(j.gpus_requested, 'num'),
          cell(j.state === 'building' ? 'building' : time(j.estimated_start)),
          cell(j.held_by ? `held by ${j.held_by}` : j.waiting_for),
        ]),
      ),
      'queue empty',
      7,
    );
    const finished = view.jobs
      .filter((j: any) => FINISHED.includes(j.state))
      .sort((a: any, b: any) => Date.parse(b.finished_at ?? 0) - Date.parse(a.finished_at ?? 0) || b.id - a.id)
      .slice(0, 50);
    fill(
      'finished-body',
      finished.map((j: any) =>
        row(
          [
            cell(j.id, 'num'),
            cell(j.name),
            cell(j.user),
            cell(j.state),
            cell(j.reason),
            cell(j.exit_code, 'num'),
            cell(time(j.finished_at)),
          ],
          j.state,
        ),
      ),
      'none in the last 24 h',
      7,
    );
    document.body.dataset['generatedAt'] = view.generated_at;
  }

  function svg(tag: string, attributes: Record<string, string | number>): SVGElement {
    const node = document.createElementNS(SVG, tag);
    for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
    return node;
  }

  /** A line per series over the last 24 h; a null value breaks its line. */
  function chart(id: string, series: { name: string; points: [number, number | null][] }[], maxY: number, unit: string): void {
    const W = 640;
    const H = 180;
    const left = 40;
    const bottom = 20;
    const now = Date.now();
    const from = now - 24 * 3600 * 1000;
    const x = (t: number) => left + ((t - from) / (now - from)) * (W - left - 8);
    const y = (v: number) => H - bottom - (v / maxY) * (H - bottom - 8);
    const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img' });
    for (const frac of [0, 0.5, 1]) {
      root.append(svg('line', { x1: left, x2: W - 8, y1: y(maxY * frac), y2: y(maxY * frac), class: 'grid' }));
      const label = svg('text', { x: left - 4, y: y(maxY * frac) + 4, 'text-anchor': 'end', class: 'axis' });
      label.textContent = `${Math.round(maxY * frac)}${unit}`;
      root.append(label);
    }
    for (const hours of [24, 18, 12, 6, 0]) {
      const label = svg('text', { x: x(now - hours * 3600 * 1000), y: H - 4, 'text-anchor': 'middle', class: 'axis' });
      label.textContent = hours === 0 ? 'now' : `-${hours} h`;
      root.append(label);
    }
    const legend = document.createElement('ul');
    legend.className = 'legend';
    series.forEach((s, i) => {
      let d = '';
      let pen = false;
      for (const [t, v] of s.points) {
        if (v === null) {
          pen = false;
          continue;
        }
        d += `${pen ? 'L' : 'M'}${x(t).toFixed(1)},${y(v).toFixed(1)}`;
        pen = true;
      }
      if (d) root.append(svg('path', { d, class: `line c${i % COLOURS}` }));
      const item = document.createElement('li');
      const swatch = document.createElement('span');
      swatch.className = `swatch c${i % COLOURS}`;
      item.append(swatch, document.createTextNode(s.name));
      legend.append(item);
    });
    if (series.length === 0) {
      const none = svg('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'axis' });
      none.textContent = 'no data yet';
      root.append(none);
    }
    $(id).replaceChildren(root, legend);
  }

  type Point = { at: number; gpus: Record<string, number | null>; users: Record<string, { gpus: number }> };
  let history: Point[] = [];

  /** The two charts: the daemon's points of the last 24 h, and the GPUs users hold now (the view) at their right end. */
  function drawCharts(): void {
    const points = history;
    const gpuIds = [...new Set(points.flatMap((p) => Object.keys(p.gpus)))];
    const gpuSeries = gpuIds
      .map((gid) => ({ name: `GPU ${gid}`, points: points.map((p): [number, number | null] => [p.at, p.gpus[gid] ?? null]) }))
      .filter((s) => s.points.some(([, v]) => v !== null));
    chart('chart-gpu', gpuSeries, 100, '%');
    const held = new Map<string, number>((view?.users ?? []).map((u: any) => [u.user, u.gpus_held]));
    const users = [
      ...new Set([...points.flatMap((p) => Object.keys(p.users)), ...[...held].filter(([, n]) => n > 0).map(([u]) => u)]),
    ].sort();
    const userSeries = users.map((user) => ({
      name: user,
      points: [
        ...points.map((p): [number, number | null] => [p.at, p.users[user]?.gpus ?? 0]),
        ...(view ? [[Date.parse(view.generated_at), held.get(user) ?? 0] as [number, number]] : []),
      ],
    }));
    const most = Math.max(1, ...points.flatMap((p) => Object.values(p.users).map((u) => u.gpus)), ...held.values());
    chart('chart-users', userSeries, most, '');
  }

  async function loadHistory(): Promise<void> {
    try {
      const response = await fetch('api/history', { cache: 'no-store' });
      if (!response.ok) return;
      history = ((await response.json()) as { points: Point[] }).points;
      drawCharts();
    } catch {
      // the next minute tries again
    }
  }

  function live(): void {
    const status = $('live');
    const events = new EventSource('events');
    events.addEventListener('open', () => {
      status.textContent = 'live';
      status.className = 'ok';
    });
    events.addEventListener('error', () => {
      status.textContent = 'reconnecting…';
      status.className = 'bad';
      // An answer other than 200 ends an EventSource for good (503 while 64 follow, a proxy's 502
      // while the server restarts): without a new one the page would stay stale until reloaded.
      if (events.readyState === EventSource.CLOSED) setTimeout(live, 5000);
    });
    events.addEventListener('pass', (event) => {
      lastPass = JSON.parse((event as MessageEvent<string>).data);
      if (view) renderStatus();
    });
    events.addEventListener('view', (event) => {
      view = JSON.parse((event as MessageEvent<string>).data);
      render();
      drawCharts();
    });
  }

  live();
  void loadHistory();
  setInterval(() => void loadHistory(), 60_000);
  setInterval(() => view && renderStatus(), 10_000);
}
