// summarize serve: the page's behaviour. Plain JavaScript, no library, no build step.
// Every text that comes from a document or a model is set with textContent, never as HTML.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const body = document.body;
  const limits = {
    files: Number(body.dataset.maxFiles),
    bytes: Number(body.dataset.maxBytes),
    total: Number(body.dataset.maxTotal),
  };
  const accepted = body.dataset.accept.split(",");
  const METHODS = {
    "model": "Résumé écrit par le modèle.",
    "model-retry": "Résumé écrit par le modèle au second essai (le premier jet ne passait pas les garde-fous).",
    "extractive-fallback": "Pas de résumé fiable du modèle : voici des phrases extraites telles quelles du " +
      "document (repli extractif).",
  };
  const STAGES = { map: "partie", reduce: "fusion" };
  let picked = []; // File objects chosen or dropped
  let source = null; // the EventSource of the job on screen
  let jobId = null;

  // -- choosing documents ------------------------------------------------------------------
  function extOf(name) {
    const dot = name.lastIndexOf(".");
    return dot > 0 ? name.slice(dot).toLowerCase() : "";
  }

  function addFiles(files) {
    let ignored = 0;
    for (const file of files) {
      if (accepted.includes(extOf(file.name))) picked.push(file);
      else ignored += 1;
    }
    showPicked(ignored);
  }

  function showPicked(ignored) {
    const list = $("choisis");
    list.textContent = "";
    for (const file of picked) {
      const li = document.createElement("li");
      li.textContent = `${file.name} (${Math.max(1, Math.round(file.size / 1024))} Ko)`;
      list.appendChild(li);
    }
    if (ignored) {
      const li = document.createElement("li");
      li.className = "aide";
      li.textContent = `${ignored} fichier(s) ignoré(s) : format non lu.`;
      list.appendChild(li);
    }
  }

  async function entries(entry, out) { // a dropped folder, read recursively
    if (entry.isFile) {
      out.push(await new Promise((ok, ko) => entry.file(ok, ko)));
    } else if (entry.isDirectory && !entry.name.startsWith(".")) {
      const reader = entry.createReader();
      for (;;) {
        const batch = await new Promise((ok, ko) => reader.readEntries(ok, ko));
        if (!batch.length) break;
        for (const child of batch) await entries(child, out);
      }
    }
  }

  const zone = $("depot");
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("survol"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("survol"));
  zone.addEventListener("drop", async (e) => {
    e.preventDefault();
    zone.classList.remove("survol");
    const items = [...(e.dataTransfer.items || [])].map((i) => i.webkitGetAsEntry && i.webkitGetAsEntry());
    if (items.length && items.every(Boolean)) {
      const files = [];
      for (const entry of items) await entries(entry, files);
      addFiles(files);
    } else {
      addFiles(e.dataTransfer.files);
    }
  });
  zone.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") $("fichiers").click(); });
  $("fichiers").addEventListener("change", (e) => { addFiles(e.target.files); e.target.value = ""; });
  $("dossier").addEventListener("change", (e) => { addFiles(e.target.files); e.target.value = ""; });

  // -- sending -----------------------------------------------------------------------------
  function megabytes(n) { return `${Number((n / 1e6).toFixed(1)).toLocaleString("fr-FR")} Mo`; }

  function fail(message) {
    const p = $("erreur");
    p.textContent = message;
    p.hidden = !message;
  }

  $("formulaire").addEventListener("submit", async (e) => {
    e.preventDefault();
    fail("");
    const text = $("texte").value;
    if (!picked.length && !text.trim()) return fail("Rien à résumer : déposez un fichier ou collez un texte.");
    if (picked.length > limits.files) return fail(`Trop de fichiers : ${limits.files} au plus par envoi.`);
    const big = picked.find((f) => f.size > limits.bytes);
    if (big) return fail(`Fichier trop volumineux : « ${big.name} » (${megabytes(limits.bytes)} au plus par document).`);
    const total = picked.reduce((sum, f) => sum + f.size, 0) + new Blob([text]).size;
    if (total > limits.total) {
      return fail(`Envoi trop volumineux : ${megabytes(limits.total)} au plus par envoi. Envoyez moins de fichiers à la fois.`);
    }
    const form = new FormData();
    form.append("longueur", document.querySelector("input[name=longueur]:checked").value);
    form.append("modele", $("modele").value);
    if (text.trim()) form.append("texte", text);
    for (const file of picked) form.append("fichiers", file, file.name);
    $("lancer").disabled = true;
    let answer;
    try {
      const response = await fetch("/api/jobs", { method: "POST", body: form, credentials: "same-origin" });
      answer = await response.json().catch(() => ({}));
      if (!response.ok) throw new Error(answer.erreur || `Erreur ${response.status}.`);
    } catch (err) {
      $("lancer").disabled = false;
      return fail(err.message === "Failed to fetch" ? "Le serveur ne répond pas (summarize serve est-il arrêté ?)." : err.message);
    }
    picked = [];
    showPicked(0);
    follow(answer);
  });

  // -- following a job ---------------------------------------------------------------------
  function reset(kind, title) {
    $("travail").hidden = false;
    $("titre-travail").textContent = title;
    $("resultat").hidden = kind !== "document";
    $("lot").hidden = kind !== "batch";
    for (const id of ["flux", "resume", "liste-sources", "brut", "methode", "synthese-texte", "sobriete-lignes"]) {
      $(id).textContent = "";
    }
    $("documents").tBodies[0].textContent = "";
    for (const id of ["sources", "synthese", "sobriete", "telecharger-doc", "lien-lot", "avance", "resume", "non-verifie"]) {
      $(id).hidden = true;
    }
    $("flux").hidden = false;
    $("resultat").dataset.etat = "";
  }

  function state(text) { $("etat").textContent = text; }

  function follow(job) {
    if (source) source.close();
    jobId = job.id;
    reset(job.kind, job.kind === "batch" ? `Lot de ${job.documents.length} documents` : `Résumé de « ${job.documents[0]} »`);
    $("annuler").hidden = false;
    $("annuler").disabled = false;
    state("En attente…");
    const es = new EventSource(`/api/jobs/${encodeURIComponent(job.id)}/events`);
    source = es;
    const on = (type, handler) => es.addEventListener(type, (e) => handler(JSON.parse(e.data)));
    on("queued", (d) => state(d.position ? `En file d'attente (${d.position} travail(s) avant celui-ci)…` : "En file d'attente…"));
    on("running", () => state(job.kind === "batch" ? "Lecture des documents…" : "Lecture du document…"));
    on("start", (d) => {
      const parts = d.chunks > 1 ? ` : document long, ${d.chunks} parties` : "";
      const guess = d.cached ? "" : ` · estimation : environ ${formatSeconds(d.estimate)}`;
      state(`Écriture du résumé (${d.model}, ${lengthLabel(d.length)})${parts}${guess}…`);
      $("resultat").dataset.etat = "ecriture";
    });
    on("text", (d) => { $("flux").textContent += d.text; });
    on("progress", progress);
    on("result", (d) => { showResult(d); state(doneLine(d)); });
    on("error", (d) => { state(""); fail(`Erreur : ${d.message}`); });
    on("cancelled", (d) => { state(`Annulé après ${d.seconds} s : le travail est arrêté.`); $("resultat").dataset.etat = "annule"; });
    on("batch_start", batchStart);
    on("doc_start", (d) => cell(d.index, 1, "en cours…"));
    on("doc_done", docDone);
    on("synth_start", (d) => state(`Synthèse de ${d.count} résumé(s)…`));
    on("batch_done", batchDone);
    on("end", (d) => {
      es.close();
      if (source === es) source = null;
      $("annuler").hidden = true;
      $("lancer").disabled = false;
      $("avance").hidden = true;
      body.dataset.fini = d.state; // tests and assistive tools can see that the job is over
      refreshHistory();
    });
    delete body.dataset.fini;
  }

  function lengthLabel(key) { return { short: "court", medium: "moyen", long: "long" }[key] || key; }

  function progress(d) {
    const bar = $("avance");
    bar.hidden = false;
    bar.max = d.total;
    bar.value = d.done;
    const what = STAGES[d.stage] || d.stage;
    const current = Math.min(d.done + 1, d.total);
    let line = d.done < d.total ? `Document long : ${what} ${current} sur ${d.total}` : `Document long : ${d.total} parties résumées, assemblage…`;
    if (d.left != null) line += ` · environ ${formatSeconds(d.left)} restantes`;
    if (d.index != null) cell(d.index, 1, `${what} ${current}/${d.total}`);
    else state(line);
  }

  function formatSeconds(s) { return s >= 120 ? `${Math.round(s / 60)} min` : `${Math.round(s)} s`; }

  function doneLine(d) {
    const how = d.cache_hit ? "depuis le cache, instantané" :
      `${d.seconds != null ? d.seconds.toFixed(1) : "?"} s, ${d.tokens_in} jetons lus, ${d.tokens_out} écrits`;
    return `Terminé (${d.model}, ${lengthLabel(d.length)} ; ${how}).`;
  }

  // -- a summary with its sources -------------------------------------------------------------
  function where(src) { // quality/cite.py's where(), in the same words
    const parts = [];
    if (src.page != null) parts.push(`p. ${src.page}`);
    if (src.slide != null) parts.push(`diapo ${src.slide}` + (src.section ? ` (${src.section})` : ""));
    else if (src.section) parts.push(`section ${src.section}`);
    if (src.timestamp) parts.push(`à ${src.timestamp}`);
    if (src.line != null) parts.push(`ligne ${src.line}`);
    if (src.paragraph != null) parts.push(`§ ${src.paragraph}`);
    return parts.join(", ");
  }

  function showResult(d) {
    $("resultat").hidden = false;
    $("flux").hidden = true;
    const method = $("methode");
    method.textContent = (METHODS[d.method] || d.method) + (d.cache_hit ? " Depuis le cache." : "");
    method.dataset.methode = d.method;
    const box = $("resume");
    box.textContent = "";
    box.hidden = false;
    const list = $("liste-sources");
    list.textContent = "";
    const numbers = new Map();
    let unverified = false;
    const sentences = d.sentences || [{ text: d.summary, supported: true, sources: [] }];
    for (const s of sentences) {
      const span = document.createElement("span");
      span.className = "phrase";
      span.textContent = s.text;
      box.appendChild(span);
      const refs = [];
      for (const src of s.supported ? s.sources || [] : []) {
        const key = `${src.start}-${src.end}`;
        if (!numbers.has(key)) {
          numbers.set(key, numbers.size + 1);
          list.appendChild(sourceItem(numbers.get(key), src));
        }
        if (!refs.includes(numbers.get(key))) refs.push(numbers.get(key));
      }
      if (d.sentences && !refs.length) {
        unverified = true;
        const mark = document.createElement("span");
        mark.className = "non-verifie";
        mark.textContent = " [non vérifié]";
        box.appendChild(mark);
      }
      for (const n of refs.sort((a, b) => a - b)) {
        const ref = document.createElement("button");
        ref.type = "button";
        ref.className = "ref";
        ref.textContent = `[${n}]`;
        ref.setAttribute("aria-label", `source ${n}`);
        ref.addEventListener("click", () => openSource(n));
        box.appendChild(ref);
      }
      box.appendChild(document.createTextNode(" "));
    }
    $("sources").hidden = !numbers.size && !unverified;
    $("non-verifie").hidden = !unverified;
    $("brut").textContent = d.text;
    $("resultat").dataset.etat = "fini";
    const links = $("telecharger-doc");
    links.hidden = false;
    const base = (d.source || "resume").replace(/[^A-Za-z0-9._-]+/g, "_");
    setLink($("lien-md"), new Blob([d.text + "\n"], { type: "text/markdown" }), `${base}.resume.md`);
    setLink($("lien-json"), new Blob([JSON.stringify(d.json, null, 2)], { type: "application/json" }), `${base}.resume.json`);
  }

  function setLink(a, blob, name) {
    if (a.href && a.href.startsWith("blob:")) URL.revokeObjectURL(a.href);
    a.href = URL.createObjectURL(blob);
    a.download = name;
  }

  function sourceItem(n, src) {
    const li = document.createElement("li");
    li.id = `source-${n}`;
    const details = document.createElement("details");
    const summary = document.createElement("summary");
    const place = where(src);
    summary.textContent = place || "passage";
    const quote = document.createElement("blockquote");
    quote.textContent = `« ${src.quote.split(/\s+/).join(" ")} »`;
    details.append(summary, quote);
    li.appendChild(details);
    return li;
  }

  function openSource(n) {
    const li = $(`source-${n}`);
    if (!li) return;
    for (const other of $("liste-sources").querySelectorAll("li.vise")) other.classList.remove("vise");
    li.classList.add("vise");
    li.querySelector("details").open = true;
    li.scrollIntoView({ block: "nearest", behavior: "smooth" });
  }

  // -- a batch ---------------------------------------------------------------------------------
  const STATUS = { ok: "fait", cached: "depuis le cache", error: "erreur" };
  const SHORT_METHOD = { "model": "modèle", "model-retry": "modèle (2e essai)", "extractive-fallback": "extraits (repli)" };

  function batchStart(d) {
    state(`${d.documents.length} documents à résumer…`);
    const tbody = $("documents").tBodies[0];
    for (const doc of d.documents) {
      const tr = document.createElement("tr");
      tr.dataset.index = doc.index;
      const name = document.createElement("td");
      name.textContent = doc.name;
      tr.appendChild(name);
      for (const text of ["en attente", "", "", ""]) {
        const td = document.createElement("td");
        td.textContent = text;
        tr.appendChild(td);
      }
      tbody.appendChild(tr);
    }
  }

  function cell(index, column, text) {
    const tr = $("documents").tBodies[0].querySelector(`tr[data-index="${index}"]`);
    if (tr) tr.cells[column].textContent = text;
    return tr;
  }

  function docDone(d) {
    const tr = cell(d.index, 1, d.status === "error" ? `erreur : ${d.error}` : STATUS[d.status] || d.status);
    if (!tr) return;
    tr.dataset.statut = d.status;
    tr.cells[2].textContent = SHORT_METHOD[d.method] || d.method || "";
    tr.cells[3].textContent = d.supported != null ? `${Math.round(d.supported * 100)} %` : "";
    tr.cells[4].textContent = d.run_seconds != null ? d.run_seconds.toFixed(1) : "";
    if (d.summary) {
      const details = document.createElement("details");
      const summary = document.createElement("summary");
      summary.textContent = "résumé";
      const p = document.createElement("p");
      p.textContent = d.summary;
      details.append(summary, p);
      tr.cells[0].appendChild(details);
    }
    const done = [...$("documents").tBodies[0].rows].filter((r) => r.dataset.statut).length;
    state(`${done} document(s) sur ${$("documents").tBodies[0].rows.length} résumé(s)…`);
  }

  function batchDone(d) {
    const c = d.counts;
    state((d.interrupted ? "Lot interrompu : " : "Lot terminé : ") +
      `${c.ok} résumé(s) calculé(s), ${c.cached} depuis le cache, ${c.error} erreur(s).` +
      (d.synthesis_error ? ` Synthèse impossible : ${d.synthesis_error}` : ""));
    if (d.synthesis) {
      $("synthese").hidden = false;
      $("synthese-texte").textContent = d.synthesis;
    }
    const s = d.sobriety;
    const rows = [
      ["Jetons lus / écrits", `${s.tokens_in} / ${s.tokens_out}`],
      ["Secondes de CPU", `${s.cpu_seconds.toFixed(1)} s (durée ${s.wall_seconds.toFixed(1)} s)`],
      ["Énergie (estimation)", `${s.energy_wh.toFixed(3)} Wh à ${s.watts} W`],
      ["Économisé par le cache", `${s.saved.documents} document(s), ${s.saved.tokens_in + s.saved.tokens_out} jetons, ` +
        `${s.saved.seconds.toFixed(1)} s, ≈ ${s.saved.energy_wh.toFixed(3)} Wh`],
    ];
    if (s.measured_energy_wh != null) rows.splice(3, 0, ["Énergie (mesurée, RAPL)", `${s.measured_energy_wh.toFixed(3)} Wh`]);
    const tbody = $("sobriete-lignes");
    for (const [k, v] of rows) {
      const tr = document.createElement("tr");
      const th = document.createElement("th");
      th.textContent = k;
      const td = document.createElement("td");
      td.textContent = v;
      tr.append(th, td);
      tbody.appendChild(tr);
    }
    $("sobriete").hidden = false;
    const link = $("lien-lot");
    link.href = d.download;
    link.hidden = false;
  }

  // -- cancel ------------------------------------------------------------------------------------
  $("annuler").addEventListener("click", async () => {
    if (!jobId) return;
    $("annuler").disabled = true;
    state("Annulation…");
    await fetch(`/api/jobs/${encodeURIComponent(jobId)}/cancel`, { method: "POST", credentials: "same-origin" });
  });

  // -- history -----------------------------------------------------------------------------------
  async function refreshHistory() {
    const response = await fetch("/api/history", { credentials: "same-origin" });
    if (!response.ok) return;
    const items = await response.json();
    const list = $("liste-historique");
    list.textContent = "";
    for (const h of items) {
      const li = document.createElement("li");
      const b = document.createElement("button");
      b.type = "button";
      b.className = "lien";
      b.dataset.cle = h.key;
      b.textContent = `${h.name} · ${h.when} · ${h.model} · ${h.length}${h.method !== "model" ? " · " + h.method : ""} — ${h.start}`;
      li.appendChild(b);
      list.appendChild(li);
    }
  }

  $("liste-historique").addEventListener("click", async (e) => {
    const button = e.target.closest("button[data-cle]");
    if (!button) return;
    const response = await fetch(`/api/history/${encodeURIComponent(button.dataset.cle)}`, { credentials: "same-origin" });
    const d = await response.json();
    if (!response.ok) return fail(d.erreur || "Résumé introuvable.");
    if (source) { source.close(); source = null; }
    jobId = null;
    reset("document", "Résumé (historique)");
    $("annuler").hidden = true;
    showResult(d);
    state(`Depuis le cache : ${d.model}, ${lengthLabel(d.length)}.`);
  });
})();
