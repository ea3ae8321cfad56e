/**
 * The status page: one self-contained HTML document (inline CSS and script, no external request), with the
 * one-line diagrams rendered here as SVG from the site configuration and the current state, then kept live
 * by the script from Server-Sent Events (`/api/events`, falling back to polling `/api/state`).
 *
 * Diagram elements carry their ids and state as attributes, for the script, for tests and for anyone
 * scraping the page: `[data-feeder]` per feeder; `path[data-section][data-state=energized|deenergized|faulted]`;
 * `g[data-switch][data-position=open|closed|unknown][data-kind][data-tie]`; `g[data-transformer][data-state]`.
 */
import type { FeederDiagram } from './layout.js';
import type { SectionState, StatusSnapshot } from './status-model.js';

const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function sectionStateOf(snapshot: StatusSnapshot, feederId: string, sectionId: string): SectionState {
  return snapshot.feeders.find((f) => f.id === feederId)?.sections[sectionId] ?? 'deenergized';
}

function positionOf(snapshot: StatusSnapshot, switchId: string): string {
  for (const f of snapshot.feeders) {
    const p = f.switches[switchId];
    if (p !== undefined) return p;
  }
  return 'unknown';
}

export function renderDiagram(d: FeederDiagram, snapshot: StatusSnapshot): string {
  const parts: string[] = [];
  parts.push(
    `<svg class="diagram" viewBox="0 0 ${d.width} ${d.height}" width="${d.width}" role="img" aria-label="one-line diagram of feeder ${esc(d.feederId)}" data-layout="${d.layout}">`,
  );
  const breaker = d.switches.find((s) => !s.stub && s.side === null);
  parts.push(`<line class="bus" x1="${d.bus.x}" y1="${d.bus.y1}" x2="${d.bus.x}" y2="${d.bus.y2}"/>`);
  if (breaker) parts.push(`<path class="bus-link" d="M${d.bus.x},${breaker.y}H${breaker.x}"/>`);
  for (const s of d.sections) {
    const state = sectionStateOf(snapshot, d.feederId, s.id);
    parts.push(`<path class="section" data-section="${esc(s.id)}" data-state="${state}" d="${s.d}"><title>${esc(s.id)}${s.name ? ' ' + esc(s.name) : ''}</title></path>`);
    parts.push(`<text class="label" x="${s.label[0]}" y="${s.label[1]}" text-anchor="middle">${esc(s.id)}</text>`);
  }
  for (const t of d.transformers) {
    const state = sectionStateOf(snapshot, d.feederId, t.section);
    parts.push(
      `<g class="transformer" data-transformer="${esc(t.id)}" data-on-section="${esc(t.section)}" data-state="${state}"><title>${esc(t.id)}: ${t.customers} customers</title>` +
        `<circle cx="${t.x}" cy="${t.y}" r="7"/><text class="small" x="${t.x}" y="${t.y + 19}" text-anchor="middle">${esc(t.id)}</text></g>`,
    );
  }
  for (const sw of d.switches) {
    const position = positionOf(snapshot, sw.id);
    const size = 14;
    const label = sw.stub ? `${sw.id}${sw.leadsTo ? ' \u2192 ' + sw.leadsTo : ''}` : sw.id;
    // A stub's label goes to its right (the row below may carry a branch); others above the device.
    const text = sw.stub ? `x="${sw.x + 11}" y="${sw.y + 4}" text-anchor="start"` : `x="${sw.x}" y="${sw.y - 12}" text-anchor="middle"`;
    parts.push(
      `<g class="switch" data-switch="${esc(sw.id)}" data-kind="${sw.kind}" data-tie="${sw.tie}" data-normal="${sw.normal}" data-position="${position}"${sw.side ? ` data-side="${esc(sw.side)}"` : ''}>` +
        `<title>${esc(sw.id)} (${sw.kind}${sw.tie ? ', tie' : ''}, normally ${sw.normal})</title>` +
        `<rect x="${sw.x - size / 2}" y="${sw.y - size / 2}" width="${size}" height="${size}" rx="${sw.kind === 'fuse' ? 7 : 2}"/>` +
        `<text class="small" ${text}>${esc(label)}</text></g>`,
    );
  }
  parts.push('</svg>');
  return parts.join('');
}

export function renderPage(diagrams: FeederDiagram[], snapshot: StatusSnapshot): string {
  const title = `feederwatch ${snapshot.siteId}`;
  const feeders = diagrams
    .map(
      (d) =>
        `<section class="card feeder" data-feeder="${esc(d.feederId)}"><h2>${esc(d.feederId)}${d.name ? ` <small>${esc(d.name)}</small>` : ''}` +
        `<span class="out" data-customers-out></span></h2><div class="scroll">${renderDiagram(d, snapshot)}</div></section>`,
    )
    .join('');
  // The initial state travels in the page: it shows at once, before the first event arrives.
  const initial = JSON.stringify(snapshot).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>
:root{--ok:#1f9d55;--off:#8a94a0;--fault:#d62d20;--warn:#d08700;--bg:#f4f6f8;--fg:#1d2630;--card:#fff;--line:#dde3e9}
@media (prefers-color-scheme:dark){:root{--bg:#12171c;--fg:#e3e8ee;--card:#1b232b;--line:#2e3a46;--off:#6c7682}}
*{box-sizing:border-box}body{margin:0;font:15px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:var(--bg);color:var(--fg)}
header{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:center;padding:.7rem 1rem;background:var(--card);border-bottom:1px solid var(--line);position:sticky;top:0;z-index:1}
header h1{font-size:1.1rem;margin:0;flex:1 1 auto}
.badge{display:inline-block;padding:.1rem .5rem;border-radius:1rem;font-size:.8rem;font-weight:600;color:#fff;background:var(--off)}
.badge.ok{background:var(--ok)}.badge.bad{background:var(--fault)}.badge.warn{background:var(--warn)}
main{display:grid;gap:1rem;padding:1rem;grid-template-columns:repeat(auto-fit,minmax(min(100%,34rem),1fr))}
.card{background:var(--card);border:1px solid var(--line);border-radius:.5rem;padding:.7rem 1rem;min-width:0}
.card h2{font-size:1rem;margin:0 0 .5rem;display:flex;gap:.5rem;align-items:baseline;flex-wrap:wrap}.card h2 small{font-weight:400;opacity:.7}
.out{margin-left:auto;font-size:.85rem;font-weight:600;color:var(--fault)}
.scroll{overflow-x:auto}
svg.diagram{max-width:100%;min-width:min(22rem,100%);height:auto;display:block}
svg .section{fill:none;stroke-width:5;stroke-linecap:round;stroke-linejoin:round}
svg .section[data-state=energized]{stroke:var(--ok)}
svg .section[data-state=deenergized]{stroke:var(--off);stroke-dasharray:8 6}
svg .section[data-state=faulted]{stroke:var(--fault);stroke-width:7}
svg .bus{stroke:var(--fg);stroke-width:7}svg .bus-link{stroke:var(--fg);stroke-width:3;fill:none}
svg .label{font-size:12px;fill:var(--fg);opacity:.8}svg .small{font-size:10.5px;fill:var(--fg)}
svg .switch rect{stroke:var(--fg);stroke-width:2}
svg .switch[data-position=closed] rect{fill:var(--fg)}
svg .switch[data-position=open] rect{fill:var(--card)}
svg .switch[data-position=unknown] rect{fill:var(--warn);stroke-dasharray:3 2}
svg .switch[data-tie=true] rect{stroke:#2f6fd6;stroke-width:2.5}
svg .switch[data-tie=true][data-position=closed] rect{fill:#2f6fd6}
svg .transformer circle{fill:var(--card);stroke-width:2.5}
svg .transformer[data-state=energized] circle{stroke:var(--ok)}svg .transformer[data-state=deenergized] circle{stroke:var(--off)}svg .transformer[data-state=faulted] circle{stroke:var(--fault)}
.legend{display:flex;flex-wrap:wrap;gap:.3rem 1rem;font-size:.8rem;opacity:.85}
.legend i{display:inline-block;width:1.4rem;height:.35rem;vertical-align:middle;margin-right:.3rem;border-radius:.2rem}
table{border-collapse:collapse;width:100%;font-size:.9rem}th,td{text-align:left;padding:.25rem .4rem;border-bottom:1px solid var(--line);vertical-align:top}
th{font-weight:600;opacity:.75}td.n{text-align:right;font-variant-numeric:tabular-nums}
.devices{display:flex;flex-wrap:wrap;gap:.3rem}.dev{font-size:.8rem;padding:.1rem .45rem;border-radius:.3rem;border:1px solid var(--line)}
.dev[data-state=online]{border-color:var(--ok)}.dev[data-state=degraded]{border-color:var(--warn);background:rgba(208,135,0,.15)}.dev[data-state=offline]{border-color:var(--fault);background:rgba(214,45,32,.15)}
.empty{opacity:.6;font-style:italic}ol{margin:.3rem 0 .6rem 1.2rem;padding:0;font-size:.85rem}
.wide{grid-column:1/-1}
@media (max-width:40rem){main{padding:.5rem;gap:.5rem}header{padding:.5rem}}
</style></head>
<body>
<header><h1>${esc(snapshot.name ?? snapshot.siteId)} <small class="site">${esc(snapshot.siteId)}</small></h1>
<span id="ready" class="badge">-</span><span id="live" class="badge">connecting</span><span id="updated" class="small"></span></header>
<main>
<div class="card wide legend"><span><i style="background:var(--ok)"></i>energized</span><span><i style="background:var(--off)"></i>de-energized</span><span><i style="background:var(--fault)"></i>faulted</span><span>&#9632; closed</span><span>&#9633; open</span><span style="color:#2f6fd6">&#9633; tie</span><span>&#9675; transformer</span></div>
${feeders}
<section class="card wide"><h2>Active outages</h2><div id="outages"></div></section>
<section class="card"><h2>Self-healing</h2><div id="selfHealing"></div></section>
<section class="card"><h2>Devices</h2><div id="devices" class="devices"></div><h2 style="margin-top:.8rem">Sinks</h2><div id="sinks"></div></section>
<section class="card wide"><h2>Reliability (year to date)</h2><div id="reliability"></div></section>
</main>
<script type="application/json" id="initial">${initial}</script>
<script>
(function(){
'use strict';
var skew=0,last=null;
function $(id){return document.getElementById(id)}
function el(tag,attrs,text){var e=document.createElement(tag);if(attrs)for(var k in attrs)e.setAttribute(k,attrs[k]);if(text!=null)e.textContent=String(text);return e}
function clear(n){while(n.firstChild)n.removeChild(n.firstChild)}
function age(iso){var s=Math.max(0,Math.round((Date.now()+skew-Date.parse(iso))/1000));if(s<90)return s+' s';var m=Math.round(s/60);if(m<90)return m+' min';return (m/60).toFixed(1)+' h'}
function table(head,rows){var t=el('table'),h=el('tr');head.forEach(function(c){h.appendChild(el('th',null,c))});t.appendChild(h);rows.forEach(function(r){var tr=el('tr');r.forEach(function(c){var td=el('td',typeof c==='number'?{class:'n'}:null,c);tr.appendChild(td)});t.appendChild(tr)});return t}
function empty(n,text){n.appendChild(el('div',{class:'empty'},text))}
function apply(s){
  last=s;skew=Date.parse(s.generatedAt)-Date.now();
  var ready=$('ready');ready.textContent=s.readiness.ready?'ready':'not ready';ready.className='badge '+(s.readiness.ready?'ok':'bad');ready.title=s.readiness.reasons.join('\\n');
  $('updated').textContent='updated '+new Date(s.generatedAt).toLocaleTimeString();
  s.feeders.forEach(function(f){
    var card=document.querySelector('[data-feeder="'+CSS.escape(f.id)+'"]');if(!card)return;
    card.querySelectorAll('[data-section]').forEach(function(p){var st=f.sections[p.getAttribute('data-section')];if(st)p.setAttribute('data-state',st)});
    card.querySelectorAll('[data-transformer]').forEach(function(t){var st=f.sections[t.getAttribute('data-on-section')];if(st)t.setAttribute('data-state',st)});
    var out=card.querySelector('[data-customers-out]');out.textContent=f.customersOut>0?f.customersOut+' customers out':'';
  });
  document.querySelectorAll('[data-switch]').forEach(function(g){var id=g.getAttribute('data-switch');for(var i=0;i<s.feeders.length;i++){var p=s.feeders[i].switches[id];if(p){g.setAttribute('data-position',p);break}}});
  var o=$('outages');clear(o);
  if(s.outages.length===0)empty(o,'none');
  else o.appendChild(table(['outage','feeders','cause','device','fault section','customers out','affected','kind','age'],s.outages.map(function(x){return [x.id,x.feederIds.join(', '),x.cause+(x.confidence==='inferred'?' (inferred)':''),x.causeDevice||'-',x.faultSection||'-',x.currentCustomerCount,x.customerCount,x.kind,age(x.startedAt)]})));
  var sh=$('selfHealing');clear(sh);
  if(s.selfHealing.length===0)empty(sh,'no self-healing sequence since the gateway started');
  s.selfHealing.forEach(function(r){
    var head=el('div',null,r.feederId+' '+r.kind+': '+(r.state==='running'?'running':r.outcome)+', fault '+(r.faultSection||'not located')+', started '+age(r.startedAt)+' ago'+(r.durationMs!=null?', took '+Math.round(r.durationMs/1000)+' s':'')+', still out '+r.stillOut.customers.length);
    head.setAttribute('data-report',r.id);sh.appendChild(head);
    var ol=el('ol');r.steps.forEach(function(st){ol.appendChild(el('li',null,new Date(st.at).toLocaleTimeString()+' '+st.action+' '+st.device+(st.customersRestored?' (+'+st.customersRestored+' customers)':'')+(st.deenergized.length?' dark: '+st.deenergized.join(', '):'')))});sh.appendChild(ol);
  });
  var dv=$('devices');clear(dv);
  s.devices.forEach(function(d){var e=el('span',{class:'dev','data-device':d.deviceId,'data-state':d.state,title:d.state+(d.error?': '+d.error:'')+(d.lastGoodAt?' (last good '+d.lastGoodAt+')':'')},d.deviceId);dv.appendChild(e)});
  if(s.devices.length===0)empty(dv,'no devices');
  var sk=$('sinks');clear(sk);
  if(s.sinks.length===0)empty(sk,'no sinks configured');
  else sk.appendChild(table(['sink','reachable','buffered','dropped'],s.sinks.map(function(x){return [x.name,x.reachable?'yes':'NO',x.buffered,x.dropped]})));
  var rl=$('reliability');clear(rl);
  if(!s.reliability.available)empty(rl,'not available: '+s.reliability.reason);
  else{var rep=s.reliability.report,ytd=rep.periods.yearToDate.bases.transformer,tg={};
    (rep.targets?rep.targets.areaClasses:[]).forEach(function(c){tg[c.areaClass]=c});
    rl.appendChild(table(['area class','units','SAIFI','SAIDI h','target h','met','MAIFIe','RS-1 %'],['cityCentre','urban','town','rural'].map(function(c){var x=ytd.areaClasses[c],t=tg[c];return [c,x.units,x.saifi.toFixed(3),x.saidiH.toFixed(3),t?t.targetH:'-',t?(t.met?'yes':'NO'):'-',x.maifie.toFixed(3),x.rs1Pct.toFixed(4)]}).concat([['site',ytd.site.units,ytd.site.saifi.toFixed(3),ytd.site.saidiH.toFixed(3),'-','-',ytd.site.maifie.toFixed(3),ytd.site.rs1Pct.toFixed(4)]])));
    rl.appendChild(el('div',{class:'small'},'transformer basis (DL/T 836.1), '+rep.standard+', from '+rep.periods.yearToDate.from+(rep.targets?'; targets: '+rep.targets.source+' '+rep.targets.yearUsed:'')));}
}
function live(on){var l=$('live');l.textContent=on?'live':'reconnecting';l.className='badge '+(on?'ok':'warn')}
apply(JSON.parse($('initial').textContent));
setInterval(function(){if(last)apply(last)},5000);
var poll=null;
function startPolling(){if(poll)return;poll=setInterval(function(){fetch('api/state',{cache:'no-store'}).then(function(r){if(!r.ok)throw new Error(r.status);return r.json()}).then(function(s){apply(s);live(true)}).catch(function(){live(false)})},2000)}
if(window.EventSource){
  var es=new EventSource('api/events');
  es.addEventListener('state',function(m){apply(JSON.parse(m.data));live(true);if(poll){clearInterval(poll);poll=null}});
  es.onopen=function(){live(true)};
  // Refused for good (503: too many streams; 401): the browser does not retry, so poll instead.
  es.onerror=function(){live(false);if(es.readyState===2)startPolling()};
}else startPolling();
})();
</script>
</body></html>`;
}
