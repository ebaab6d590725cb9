// Canvas edits: add (with defaults that keep the document valid where they can),
// connect (a mode that stays on until turned off), delete, rename, duplicate.
// Each is a change of the document tree sent through d.edit (designer-doc.js).

const BASE_IDS = { load_balancer: "lb", service: "web", cache: "cache", database: "db", queue: "queue", cdn: "cdn" };

function newComponent(vocab, kind) {
  switch (kind) {
    case "load_balancer": return { type: "load_balancer", algorithm: vocab.lb_algorithms[0], targets: [] };
    case "service": return { type: "service", instances: 1, cores: 4, work_ms: { dist: "exponential", mean: 8 } };
    case "cache": return { type: "cache", capacity_keys: 100000, hit_ms: 0.3 };
    case "database": return {
      type: "database",
      primary: { cores: 8, read_ms: { dist: "exponential", mean: 4 }, write_ms: { dist: "exponential", mean: 12 } },
    };
    case "queue": return { type: "queue", concurrency: 4, when_full: vocab.queue_full_policies[0], publish_ms: 1 };
    case "cdn": return { type: "cdn", regions: [], capacity_keys: 100000, hit_ms: 2 };
    default: return null;
  }
}

function freshId(tree, base) {
  const comps = tree.components || {};
  if (!(base in comps)) return base;
  for (let i = 2; ; i++) if (!((base + i) in comps)) return base + i;
}

// What a new cache or load balancer stands in front of, so that it is valid (and
// on the path) at once: the selected component when it fits, else the likeliest
// one (for a cache, the database the services call; for a balancer, the service
// the clients call). Null: nothing fits yet.
// The id an entry of a service's `calls` names: a plain id, or the mapping form's `to`
// ({to, probability, breaker}).
const callee = (x) => (x && typeof x === "object" ? x.to : x);

function frontOf(tree, kind, selected) {
  const comps = tree.components;
  const type = (id) => (comps[id] && typeof comps[id] === "object" ? comps[id].type : null);
  const ids = Object.keys(comps);
  if (kind === "cache") {
    if (selected && ["database", "service", "load_balancer"].includes(type(selected))) return selected;
    const called = new Set();
    for (const c of Object.values(comps)) if (c && Array.isArray(c.calls)) c.calls.forEach((x) => called.add(callee(x)));
    const dbs = ids.filter((id) => type(id) === "database");
    return dbs.find((id) => called.has(id)) || dbs[0] || null;
  }
  if (kind === "queue") {
    // its consumers: the selected service, else a service nothing calls yet
    if (selected && type(selected) === "service") return selected;
    const called = new Set();
    for (const c of Object.values(comps)) if (c && Array.isArray(c.calls)) c.calls.forEach((x) => called.add(x));
    const target = tree.workload && tree.workload.target;
    return ids.find((id) => type(id) === "service" && !called.has(id) && id !== target) || null;
  }
  if (kind === "load_balancer") {
    if (selected && type(selected) === "service") return selected;
    const target = tree.workload && tree.workload.target;
    if (target && type(target) === "service") return target;
    return ids.find((id) => type(id) === "service") || null;
  }
  return null;
}

// Whoever called `target` (services' calls, the clients) calls `newId` instead.
function rewireCallers(tree, newId, target) {
  const rewired = [];
  for (const [id, c] of Object.entries(tree.components)) {
    if (id === newId || !c || typeof c !== "object" || !Array.isArray(c.calls) || !c.calls.some((x) => callee(x) === target)) continue;
    c.calls = c.calls.some((x) => callee(x) === newId)
      ? c.calls.filter((x) => callee(x) !== target)
      : c.calls.map((x) => (callee(x) !== target ? x : typeof x === "object" ? { ...x, to: newId } : newId));
    rewired.push(id);
  }
  if (tree.workload && tree.workload.target === target) {
    tree.workload.target = newId;
    rewired.push("the clients");
  }
  return rewired;
}

function listing(names) {
  return names.length <= 1 ? names.join("") : names.slice(0, -1).join(", ") + " and " + names[names.length - 1];
}

export function installEdit(d) {
  const cy = d.cy;
  const CLIENTS = d.CLIENTS;
  const typeName = (kind) => (d.TYPE_NAMES[kind] || kind).toLowerCase();
  let connectMode = false;
  let connectSource = null;

  function nodeType(id) {
    const n = cy.getElementById(id);
    return n.nonempty() ? n.data("type") : null;
  }

  function addComponent(kind) {
    if (d.readonly) return Promise.resolve();
    let newId = null;
    let said = "";
    const selected = d.selectedId && d.selectedId !== CLIENTS ? d.selectedId : null;
    let spot = d.freeSpot(d.selectedId ? cy.getElementById(d.selectedId).position() : null);
    // Inserted in front of `target`: between it and its (first) caller, else left of it.
    const spotInFront = (target, rewired) => {
      const t = cy.getElementById(target);
      if (t.empty()) return spot;
      const callers = rewired.map((name) => cy.getElementById(name === "the clients" ? CLIENTS : name)).filter((n) => n.nonempty());
      const p = t.position();
      // freeSpot(near) looks from 230 px right of `near`.
      if (!callers.length) return d.freeSpot({ x: p.x - 460, y: p.y });
      const c = callers[0].position();
      return d.freeSpot({ x: (c.x + p.x) / 2 - 230, y: (c.y + p.y) / 2 });
    };
    return d.edit((tree) => {
      newId = freshId(tree, BASE_IDS[kind]);
      const comp = newComponent(d.VOCAB, kind);
      const target = frontOf(tree, kind, selected);
      const name = typeName(kind) + " " + newId;
      tree.components[newId] = comp;
      if (kind === "cache" && target) {
        comp.backing = target;
        const rewired = rewireCallers(tree, newId, target);
        spot = spotInFront(target, rewired);
        said = rewired.length
          ? "Added " + name + " in front of " + target + ": " + listing(rewired) + " now " +
            (rewired.length === 1 && rewired[0] !== "the clients" ? "calls " : "call ") + newId +
            ", which reads " + target + " on a miss."
          : "Added " + name + ", backed by " + target + ". Nothing calls it yet: connect a service to it.";
      } else if (kind === "load_balancer" && target) {
        comp.targets = [target];
        const rewired = rewireCallers(tree, newId, target);
        spot = spotInFront(target, rewired);
        said = "Added " + name + " in front of " + target +
          (rewired.length ? ": " + listing(rewired) + " now send to " + newId + ", which distributes to " + target + "."
            : ", distributing to it. Nothing sends to it yet: connect a caller to it.");
      } else if (kind === "cdn") {
        // in front of the clients: it serves every client region, its origin is
        // what the clients called
        const wl = tree.workload || {};
        comp.regions = wl.regions && typeof wl.regions === "object" ? Object.keys(wl.regions) : [];
        const origin = typeof wl.target === "string" && tree.components[wl.target] && wl.target !== newId ? wl.target : null;
        if (origin) {
          comp.origin = origin;
          tree.workload.target = newId;
        }
        said = origin
          ? "Added " + name + " in front of " + origin + ": the clients now call " + newId + ", which reads " + origin + " on a miss."
          : "Added " + name + ". A CDN needs an origin: connect " + newId + " to it, and Clients to " + newId + ".";
        if (!comp.regions.length) said += " It serves client regions: give the workload regions, then list them in its inspector.";
      } else if (kind === "queue" && target) {
        comp.consumers = target;
        said = "Added " + name + ", consumed by " + target + ". Nothing publishes to it yet: connect a service (or the clients) to it.";
      } else if (kind === "queue") {
        said = "Added " + name + ". A queue needs a consumer: add a service, then connect " + newId + " to it.";
      } else if (kind === "cache") {
        said = "Added " + name + ". A cache needs something behind it: add a database (or select one), then connect " + newId + " to it.";
      } else if (kind === "load_balancer") {
        said = "Added " + name + ". A balancer needs services: add one, then connect " + newId + " to it.";
      } else {
        said = "Added " + name + ". Nothing sends to it yet: press Connect, click a caller, then " + newId + ".";
      }
      d.positions[newId] = spot;
    }, null).then((ok) => {
      if (ok && newId) {
        d.saveLayout();
        d.ensureVisible(newId);
        d.select(newId);
        d.setStatus(said, !d.state.valid);
      }
    });
  }

  function connect(source, target) {
    if (d.readonly || !source || !target || source === target) return Promise.resolve(false);
    const srcType = nodeType(source);
    const tgtType = nodeType(target);
    if (target === CLIENTS) { d.setStatus("The clients send requests; nothing connects to them.", true); return Promise.resolve(false); }
    const done = "Connected " + source + " → " + target + ".";
    return d.edit((tree) => {
      if (source === CLIENTS) {
        tree.workload = tree.workload || {};
        tree.workload.target = target;
        return;
      }
      const comp = tree.components[source];
      if (!comp) return false;
      if (srcType === "load_balancer") {
        if (tgtType !== "service") { d.setStatus("A load balancer distributes to services only.", true); return false; }
        comp.targets = Array.isArray(comp.targets) ? comp.targets : [];
        if (comp.targets.includes(target)) return false;
        comp.targets.push(target);
      } else if (srcType === "service") {
        comp.calls = Array.isArray(comp.calls) ? comp.calls : [];
        if (comp.calls.some((x) => callee(x) === target)) return false;
        comp.calls.push(target);
      } else if (srcType === "cdn") {
        if (tgtType === "cdn" || tgtType === "queue") { d.setStatus("A CDN's origin is a service, balancer, cache or database.", true); return false; }
        comp.origin = target;
      } else if (srcType === "queue") {
        if (tgtType !== "service") { d.setStatus("A queue's consumers is a service.", true); return false; }
        comp.consumers = target;
      } else if (srcType === "cache") {
        if (tgtType === "cache") { d.setStatus("A cache is backed by a database, service or balancer, not another cache.", true); return false; }
        comp.backing = target;
      } else {
        d.setStatus("A " + typeName(srcType) + " does not call anything: connect from its callers.", true);
        return false;
      }
    }, () => done + (connectMode ? " Still connecting: click the next source, or press Esc (or Connect) to stop." : ""));
  }

  function deleteSelection() {
    if (d.readonly) return;
    const sel = cy.$(":selected");
    if (sel.empty()) { d.setStatus("Select a component or a connection first.", true); return; }
    const el = sel[0];
    if (el.isEdge()) return deleteEdge(el);
    const id = el.id();
    if (id === CLIENTS) { d.setStatus("The clients are the workload: edit them in the Workload panel.", true); return; }
    d.edit((tree) => {
      delete tree.components[id];
      for (const comp of Object.values(tree.components)) {
        if (!comp || typeof comp !== "object") continue;
        for (const key of ["targets", "calls"]) {
          if (Array.isArray(comp[key])) comp[key] = comp[key].filter((x) => callee(x) !== id);
        }
        if (comp.backing === id) delete comp.backing;
        if (comp.consumers === id) delete comp.consumers;
        if (comp.origin === id) delete comp.origin;
        if (comp.weights && typeof comp.weights === "object") delete comp.weights[id];
      }
      delete d.positions[id];
    }, "Deleted " + id + ".").then((ok) => { if (ok) { d.saveLayout(); d.select(null); } });
  }

  function deleteEdge(edge) {
    const { source, target, kind } = edge.data();
    if (kind === "workload") { d.setStatus("The clients always call one component: connect Clients to another to move them.", true); return; }
    d.edit((tree) => {
      const comp = tree.components[source];
      if (!comp) return false;
      if (kind === "backing" || kind === "consumers" || kind === "origin") delete comp[kind];
      else if (Array.isArray(comp[kind])) comp[kind] = comp[kind].filter((x) => callee(x) !== target);
    }, "Removed " + source + " → " + target + ".");
  }

  function renameSelection() {
    if (d.readonly) return;
    if (!d.selectedId || d.selectedId === CLIENTS) { d.setStatus("Select a component to rename.", true); return; }
    const old = d.selectedId;
    const name = (window.prompt("New id for " + old + " (lowercase letters, digits, - and _):", old) || "").trim();
    if (!name || name === old) return;
    if (!/^[a-z][a-z0-9_-]{0,63}$/.test(name)) { d.setStatus("An id starts with a letter and has only a-z, 0-9, - and _.", true); return; }
    d.edit((tree) => {
      if (name in tree.components) { d.setStatus("There is already a component named " + name + ".", true); return false; }
      const renamed = {};
      for (const [id, comp] of Object.entries(tree.components)) renamed[id === old ? name : id] = comp;
      tree.components = renamed;
      const swap = (x) => (x === old ? name : x);
      for (const comp of Object.values(renamed)) {
        if (!comp || typeof comp !== "object") continue;
        for (const key of ["targets", "calls"]) if (Array.isArray(comp[key])) comp[key] = comp[key].map(swap);
        if (comp.backing === old) comp.backing = name;
        if (comp.consumers === old) comp.consumers = name;
        if (comp.origin === old) comp.origin = name;
        if (comp.weights && typeof comp.weights === "object" && old in comp.weights) {
          comp.weights[name] = comp.weights[old];
          delete comp.weights[old];
        }
      }
      if (tree.workload && tree.workload.target === old) tree.workload.target = name;
      if (Array.isArray(tree.faults)) for (const f of tree.faults) if (f && f.component === old) f.component = name;
      if (d.positions[old]) { d.positions[name] = d.positions[old]; delete d.positions[old]; }
    }, "Renamed " + old + " to " + name + ".").then((ok) => { if (ok) { d.saveLayout(); d.select(name); } });
  }

  function duplicateSelection() {
    if (d.readonly) return;
    if (!d.selectedId || d.selectedId === CLIENTS) { d.setStatus("Select a component to duplicate.", true); return; }
    const src = d.selectedId;
    let newId = null;
    const spot = d.freeSpot(cy.getElementById(src).position());
    d.edit((tree) => {
      const comp = tree.components[src];
      if (!comp) return false;
      newId = freshId(tree, src.replace(/\d+$/, "") || src);
      tree.components[newId] = JSON.parse(JSON.stringify(comp));
      d.positions[newId] = spot;
    }, null).then((ok) => {
      if (ok && newId) { d.saveLayout(); d.ensureVisible(newId); d.select(newId); d.setStatus("Duplicated " + src + " as " + newId + "."); }
    });
  }

  // Connect mode: click a source, then a target; it stays on for the next pair
  // until Connect is pressed again or Escape.
  function setConnectMode(on) {
    if (d.readonly) on = false;
    connectMode = on;
    connectSource = null;
    cy.nodes().removeClass("connect-source");
    if (d.connectModeBtn) d.connectModeBtn.setAttribute("aria-pressed", on ? "true" : "false");
    cy.container().classList.toggle("connecting", on);
    d.setStatus(on ? "Connect: click the source component, then the target (Esc to stop)." : "");
  }

  cy.on("tap", "node", (evt) => {
    const id = evt.target.id();
    if (connectMode) {
      if (!connectSource) {
        connectSource = id;
        evt.target.addClass("connect-source");
        d.setStatus("Now click the component " + id + " should connect to (Esc to stop).");
      } else {
        const src = connectSource;
        cy.nodes().removeClass("connect-source");
        connectSource = null;
        connect(src, id);
      }
      return;
    }
    d.select(id);
  });
  cy.on("tap", "edge", (evt) => {
    d.selectedId = null;
    d.setStatus("Connection " + evt.target.data("path") + " selected" +
      (d.readonly ? "." : ": press Delete to remove it."));
  });
  cy.on("tap", (evt) => {
    if (evt.target === cy) {
      d.selectedId = null;
      if (d.selectNode) d.selectNode.value = "";
      if (connectSource) { cy.nodes().removeClass("connect-source"); connectSource = null; }
    }
  });

  Object.assign(d, {
    addComponent, connect, deleteSelection, renameSelection, duplicateSelection, setConnectMode,
    nodeType, connectModeOn: () => connectMode,
  });
}
