/*
 * texjail-upload.js: upload a LaTeX project or a Jupyter notebook (.ipynb,
 * alone or in an archive) to a texjail server from any page, for an
 * editor's "Upload TeX" or "Upload notebook" button.
 *
 *   const { fragmentHtml, assetBase, diagnostics } =
 *       await texjailUpload(file, {
 *         onProgress: (p) => console.log(p.stage, p.fraction),
 *         onPreview: (fragmentHtml, assetBase, preview) => show(fragmentHtml, assetBase),
 *       });
 *
 * With converter "auto" the server first makes a fast preview page (pandoc)
 * and then the faithful one: onPreview gets the preview as soon as it
 * exists, and the promise resolves with the final page as before.
 *
 * Options: onProgress(progress), onPreview(fragmentHtml, assetBase,
 * preview), converter ("auto" | "latexml" | "make4ht" | "pandoc" |
 * "notebook"; "auto" takes "notebook" for a notebook), main (the main
 * .tex file or the notebook), execute (true: run a Python notebook's
 * cells in the jail before rendering it), cellTimeout (with execute: each
 * cell's time limit in seconds, lowered to the server's), token (API token, when the server
 * needs one), baseUrl (the server; default: where this script was loaded
 * from), signal (an AbortSignal).
 *
 * Progress is read from the job's server-sent events over fetch (not
 * EventSource) so an Authorization header can be sent. No cookies are used.
 */
(function (global) {
  'use strict';

  var scriptBase = (function () {
    var current = global.document && global.document.currentScript;
    if (current && current.src) {
      return new URL('../', current.src).href.replace(/\/$/, '');
    }
    return global.location ? global.location.origin : '';
  })();

  // How far along each stage is, for a progress bar (0..1).
  var STAGE_FRACTION = {
    queued: 0.05, started: 0.1, unpacking: 0.2, cache_hit: 0.9,
    converting: 0.35, preview: 0.5, sanitizing: 0.85, storing: 0.92, done: 1, failed: 1
  };

  function TexjailError(code, message, details, status) {
    var e = new Error(message);
    e.name = 'TexjailError';
    e.code = code;
    e.details = details;
    e.status = status;
    return e;
  }

  async function errorFrom(response) {
    var body = null;
    try { body = await response.json(); } catch (_) { /* not JSON */ }
    var err = body && body.error;
    if (err) {
      return TexjailError(err.code, err.message, err.details, response.status);
    }
    return TexjailError('http_' + response.status, 'the server answered ' + response.status, null, response.status);
  }

  function headers(options) {
    var h = {};
    if (options.token) { h.Authorization = 'Bearer ' + options.token; }
    return h;
  }

  // Parses a text/event-stream body, calling onEvent(name, data) per event.
  async function readEvents(response, onEvent) {
    var reader = response.body.getReader();
    var decoder = new TextDecoder();
    var buffer = '';
    for (;;) {
      var chunk = await reader.read();
      if (chunk.done) { return; }
      buffer += decoder.decode(chunk.value, { stream: true }).replace(/\r\n?/g, '\n');
      var end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        var block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        var name = 'message';
        var data = [];
        block.split('\n').forEach(function (line) {
          if (line.indexOf('event:') === 0) { name = line.slice(6).trim(); }
          else if (line.indexOf('data:') === 0) { data.push(line.slice(5).replace(/^ /, '')); }
        });
        if (data.length) {
          if (onEvent(name, JSON.parse(data.join('\n'))) === false) {
            reader.cancel();
            return;
          }
        }
      }
    }
  }

  // Follows a job's events until it is done; resolves with the result JSON.
  async function followJob(base, job, options) {
    var onProgress = options.onProgress || function () {};
    var response = await fetch(base + job.urls.events, { headers: headers(options), signal: options.signal, credentials: 'omit' });
    if (!response.ok) { throw await errorFrom(response); }
    var result = null;
    var failure = null;
    var passes = 0;
    var previews = [];
    await readEvents(response, function (name, data) {
      var fraction = STAGE_FRACTION[name] || 0;
      if (name === 'converting') {
        passes += 1;
        fraction = Math.min(0.8, 0.3 + 0.1 * passes);
      }
      onProgress(Object.assign({ stage: name, fraction: fraction }, data));
      if (name === 'preview' && options.onPreviewResult) {
        previews.push(options.onPreviewResult(data));
      }
      if (name === 'done') { result = data; return false; }
      if (name === 'failed') { failure = data.error; return false; }
      return true;
    });
    if (failure) { throw TexjailError(failure.code, failure.message, failure.details, 422); }
    if (!result) { throw TexjailError('disconnected', 'the event stream ended before the job did', null, 0); }
    // The preview is shown before the final page, never after it.
    await Promise.all(previews);
    return result;
  }

  // Uploads and converts; resolves with the full result JSON.
  async function texjailConvert(file, options) {
    options = options || {};
    var base = (options.baseUrl || scriptBase).replace(/\/$/, '');
    var form = new FormData();
    form.append('project', file, file.name || 'project.zip');
    if (options.converter) { form.append('converter', options.converter); }
    if (options.main) { form.append('main', options.main); }
    if (options.execute) {
      form.append('execute', 'true');
      if (options.cellTimeout) { form.append('cell_timeout', String(options.cellTimeout)); }
    }
    if (options.onProgress) { options.onProgress({ stage: 'uploading', fraction: 0.02 }); }
    var response = await fetch(base + '/api/v1/convert?wait=0', {
      method: 'POST', body: form, headers: headers(options), signal: options.signal, credentials: 'omit'
    });
    if (response.status !== 202 && response.status !== 200) { throw await errorFrom(response); }
    var job = await response.json();
    if (job.result) { return job.result; }
    return followJob(base, job, options);
  }

  // The editor entry point: the sanitized fragment, the base URL its
  // relative asset links resolve against, and the diagnostics.
  async function fetchFragment(base, urls, options) {
    var fragment = await fetch(new URL(urls.fragment, base + '/').href, { signal: options.signal, credentials: 'omit' });
    if (!fragment.ok) { throw await errorFrom(fragment); }
    return { html: await fragment.text(), assetBase: new URL(urls.page, base + '/').href };
  }

  async function texjailUpload(file, options) {
    options = Object.assign({}, options || {});
    var base = (options.baseUrl || scriptBase).replace(/\/$/, '');
    if (options.onPreview) {
      var onPreview = options.onPreview;
      options.onPreviewResult = async function (preview) {
        try {
          var page = await fetchFragment(base, preview.urls, options);
          onPreview(page.html, page.assetBase, preview);
        } catch (_) { /* a preview is a courtesy: the final page still comes */ }
      };
    }
    var result = await texjailConvert(file, options);
    var page = await fetchFragment(base, result.urls, options);
    return {
      fragmentHtml: page.html,
      assetBase: page.assetBase,
      diagnostics: result.diagnostics || [],
      result: result
    };
  }

  global.texjailUpload = texjailUpload;
  global.texjailConvert = texjailConvert;
})(typeof window !== 'undefined' ? window : this);
