// The feature browser's script (feature_browser.py inlines it): reads the page's JSON data by name.
const D = JSON.parse(document.getElementById('data').textContent);
const VOCAB = D.vocab, CATEGORIES = D.categories, COLORS = D.colors, FEATURES = D.features;
const byIndex = new Map(FEATURES.map((f, k) => [f.index, k]));
let sortKey = FEATURES.some(f => f.score !== null) ? 'score' : 'max_act', desc = true, order = [], pos = 0;
const $ = id => document.getElementById(id);
$('cat').innerHTML = '<option value="-1">all categories</option>' +
  CATEGORIES.map((c, k) => '<option value="' + k + '">' + c + '</option>').join('');

function sortValue(f, key) { return key === 'top_category' ? CATEGORIES[f.top_category] : (f[key] === null ? -1 : f[key]); }

function filtered() {
  const q = $('q').value.trim(), ci = +$('cat').value, dmin = parseFloat($('dmin').value) || 0;
  let ks = FEATURES.map((f, k) => k).filter(k => FEATURES[k].density >= dmin && (ci < 0 || FEATURES[k].top_category === ci));
  if (/^\d+$/.test(q)) ks = ks.filter(k => FEATURES[k].index === +q);
  else if (q) {
    const ql = q.toLowerCase();
    ks = ks.filter(k => FEATURES[k].explanation.toLowerCase().includes(ql) ||
      FEATURES[k].groups.some(g => g.tokens.some((ids, e) => VOCAB[ids[g.center[e]]].includes(q))));
  }
  ks.sort((a, b) => { const x = sortValue(FEATURES[a], sortKey), y = sortValue(FEATURES[b], sortKey);
    return (x < y ? -1 : x > y ? 1 : 0) * (desc ? -1 : 1); });
  return ks;
}

function table() {
  const cols = [['index', 'feature'], ['density', 'density'], ['max_act', 'max act'], ['score', 'autointerp'],
                ['top_category', 'category']];
  let h = '<table><tr>' + cols.map(c => '<th data-k="' + c[0] + '">' + c[1] +
    (sortKey === c[0] ? (desc ? ' ▼' : ' ▲') : '') + '</th>').join('') + '<th>explanation</th></tr>';
  order.slice(0, 2000).forEach((k, n) => { const f = FEATURES[k];
    h += '<tr data-n="' + n + '"' + (n === pos ? ' class="sel"' : '') + '><td>' + f.index + '</td><td>' +
      f.density.toExponential(1) + '</td><td>' + f.max_act.toFixed(2) + '</td><td>' +
      (f.score === null ? '' : f.score.toFixed(2)) + '</td><td>' + CATEGORIES[f.top_category] +
      '</td><td class="e">' + f.explanation + '</td></tr>'; });
  $('list').innerHTML = h + '</table>' +
    (order.length > 2000 ? '<p>first 2,000 of ' + order.length + ' shown: filter to see others</p>' : '');
  $('list').querySelectorAll('th[data-k]').forEach(th => th.onclick = () => {
    const k = th.dataset.k; desc = sortKey === k ? !desc : true; sortKey = k; refresh(); });
  $('list').querySelectorAll('tr[data-n]').forEach(tr => tr.onclick = () => { pos = +tr.dataset.n; show(); table(); });
}

function span(token, act, max) {
  const alpha = max > 0 ? Math.min(Math.max(act / max, 0), 1) : 0;
  return '<span title="activation ' + act.toFixed(2) + '" style="background:rgba(255,120,0,' + alpha.toFixed(2) + ')">' +
    VOCAB[token] + '</span>';
}

function bars(counts, colors, lo, hi, xlabel, title) {
  const W = 380, H = 110, L = 34, n = counts.length, mx = Math.max(1, ...counts);
  let s = '<svg width="' + (W + L + 10) + '" height="' + (H + 40) + '"><text x="' + L + '" y="10">' + title + '</text>';
  counts.forEach((c, k) => { const y = c > 0 ? (H - 4) * Math.log1p(c) / Math.log1p(mx) : 0;
    s += '<rect x="' + (L + k * W / n) + '" y="' + (14 + H - y) + '" width="' + Math.max(W / n - 1, 1) + '" height="' + y +
      '" fill="' + colors[k] + '"><title>' + c + '</title></rect>'; });
  s += '<line x1="' + L + '" y1="' + (14 + H) + '" x2="' + (L + W) + '" y2="' + (14 + H) + '" stroke="#000"/>' +
    '<line x1="' + L + '" y1="14" x2="' + L + '" y2="' + (14 + H) + '" stroke="#000"/>';
  s += '<text x="' + L + '" y="' + (H + 27) + '">' + lo.toFixed(2) + '</text><text x="' + (L + W - 30) + '" y="' + (H + 27) +
    '">' + hi.toFixed(2) + '</text>';
  s += '<text x="' + (L + W / 2 - 30) + '" y="' + (H + 38) + '">' + xlabel + '</text><text x="2" y="20">' + mx +
    '</text><text x="2" y="' + (14 + H) + '">0</text>';
  return s + '<text transform="rotate(-90)" x="' + (-14 - H / 2 - 25) + '" y="10">count (log)</text></svg>';
}

function tokenList(list) {
  return list.tokens.map((t, j) => '<code title="' + list.weights[j] + '">' + VOCAB[t] + '</code>').join(' ');
}

function show() {
  if (!order.length) { $('view').textContent = 'no feature matches'; $('pos').textContent = '0 / 0'; return; }
  const f = FEATURES[order[pos]];
  let h = '<h2>feature ' + f.index + '</h2><p>density ' + f.density.toExponential(2) + ', max activation ' +
    f.max_act.toFixed(2) + ', dominant category <b>' + CATEGORIES[f.top_category] + '</b>' +
    (f.score === null ? '' : ', autointerp ' + f.score.toFixed(2)) + '<br>explanation: ' + (f.explanation || '—') + '</p>';
  h += bars(f.act_hist.counts, f.act_hist.top_category.map(c => COLORS[c]), 0, f.act_hist.max, 'activation',
            'activations (bar colour: its most common category)');
  h += bars(f.logit_hist.counts, f.logit_hist.counts.map(() => '#888'), f.logit_hist.lo, f.logit_hist.hi, 'logit weight',
            'logit weights over the vocabulary');
  const m = Math.max(f.max_act, 1e-9);
  f.groups.forEach(g => { h += '<div><i>' + g.name + '</i></div>';
    g.tokens.forEach((ids, e) => {
      h += '<div class="ex">[' + CATEGORIES[g.category[e]] + '] ' + ids.map((t, j) => span(t, g.acts[e][j], m)).join('') +
        '</div>'; }); });
  if (!D.per_token) h += '<p>(only the harvested token of each example is highlighted)</p>';
  h += '<p>logit weights ↑ ' + tokenList(f.logits_up) + '<br>logit weights ↓ ' + tokenList(f.logits_down) + '</p>';
  const near = f.nearest;
  if (near.features.length) h += '<p>nearest by decoder cosine: ' + near.features.map((j, n) => '<a data-i="' + j + '">#' +
    j + '</a> (' + near.cos[n].toFixed(2) + ')').join(', ') + '</p>';
  $('view').innerHTML = h; $('pos').textContent = (pos + 1) + ' / ' + order.length;
  $('view').querySelectorAll('a[data-i]').forEach(a => a.onclick = () => openFeature(+a.dataset.i));
}

function openFeature(i) {
  $('q').value = ''; $('cat').value = '-1'; $('dmin').value = '0'; order = filtered();
  pos = Math.max(0, order.indexOf(byIndex.get(i))); show(); table();
}
function refresh() { order = filtered(); pos = 0; show(); table(); }
function step(s) { if (order.length) { pos = (pos + s + order.length) % order.length; show(); table(); } }
$('go').onclick = refresh;
$('q').addEventListener('keydown', e => { if (e.key === 'Enter') refresh(); });
$('cat').onchange = refresh;
$('dmin').addEventListener('keydown', e => { if (e.key === 'Enter') refresh(); });
$('prev').onclick = () => step(-1);
$('next').onclick = () => step(1);
refresh();
