/* The upload page: a file picker and drop zone, a progress bar driven by
 * the job's event stream (through texjail-upload.js), and the result in a
 * sandboxed iframe with its diagnostics. */
(function () {
  'use strict';
  var $ = function (id) { return document.getElementById(id); };
  var chosen = null;

  function choose(file) {
    chosen = file;
    $('file-name').textContent = file ? file.name + ' (' + file.size + ' bytes)' : '';
  }

  $('project').addEventListener('change', function () { choose(this.files[0] || null); });
  var zone = $('drop-zone');
  ['dragenter', 'dragover'].forEach(function (type) {
    zone.addEventListener(type, function (e) { e.preventDefault(); zone.classList.add('over'); });
  });
  ['dragleave', 'drop'].forEach(function (type) {
    zone.addEventListener(type, function (e) { e.preventDefault(); zone.classList.remove('over'); });
  });
  zone.addEventListener('drop', function (e) {
    if (e.dataTransfer && e.dataTransfer.files.length) { choose(e.dataTransfer.files[0]); }
  });

  function describe(p) {
    switch (p.stage) {
      case 'uploading': return 'Uploading…';
      case 'queued': return 'Waiting for a free slot (position ' + p.position + ')';
      case 'started': return 'Starting';
      case 'unpacking': return 'Unpacking the archive';
      case 'cache_hit': return 'Found in the cache';
      case 'converting': return 'Converting with ' + p.converter + ' (' + p.pass + ')';
      case 'preview': return 'Preview ready; making the faithful page';
      case 'sanitizing': return 'Sanitizing the HTML';
      case 'storing': return 'Storing the result';
      case 'done': return 'Done';
      case 'failed': return 'Failed';
      default: return p.stage;
    }
  }

  function showDiagnostics(list) {
    var ul = $('diagnostics');
    ul.textContent = '';
    if (!list || !list.length) {
      var none = document.createElement('li');
      none.textContent = 'No diagnostics.';
      ul.appendChild(none);
      return;
    }
    list.forEach(function (d) {
      var li = document.createElement('li');
      li.className = 'diag-' + (d.severity || 'info');
      var where = d.file ? d.file + (d.line ? ':' + d.line : '') + ': ' : '';
      li.textContent = '[' + (d.severity || 'info') + '] ' + where + d.message + (d.count > 1 ? ' (×' + d.count + ')' : '');
      ul.appendChild(li);
    });
  }

  // Which main file was converted; when it was chosen automatically, one
  // button per other candidate converts the same upload with that one.
  function showMainChoice(main) {
    var p = $('main-choice');
    p.textContent = '';
    if (!main) return;
    p.appendChild(document.createTextNode('Main file: '));
    var code = document.createElement('code');
    code.textContent = main.file;
    p.appendChild(code);
    if (!main.automatic) return;
    p.appendChild(document.createTextNode(' (chosen automatically: ' + main.reason + ')'));
    (main.others || []).forEach(function (other) {
      var button = document.createElement('button');
      button.type = 'button';
      button.className = 'main-instead';
      button.textContent = 'Convert with ' + other + ' instead';
      button.addEventListener('click', function () {
        $('main').value = other;
        $('upload-form').requestSubmit();
      });
      p.appendChild(document.createTextNode(' '));
      p.appendChild(button);
    });
  }

  function showQuality(q) {
    $('quality').textContent = !q ? '' : q.clean ? 'Clean page.' :
      'Not clean: ' + [
        q.raw_tex_commands ? q.raw_tex_commands + ' raw TeX commands in the text' : '',
        q.dollar_signs ? q.dollar_signs + ' $ signs in the text' : '',
        q.unresolved_references ? q.unresolved_references + ' unresolved references' : '',
        q.missing_images ? q.missing_images + ' missing images' : '',
        q.converter_errors ? q.converter_errors + ' converter errors' : ''
      ].filter(Boolean).join('; ') + '.';
  }

  // The first page, shown at once and marked as a preview until the
  // faithful page replaces it.
  function showPreview(preview) {
    $('result-section').dataset.kind = 'preview';
    $('page-kind').textContent = 'Preview (' + preview.converter + '): the faithful page replaces it when it is ready.';
    $('summary').textContent = '';
    $('quality').textContent = '';
    $('main-choice').textContent = '';
    $('diagnostics').textContent = '';
    $('page-link').href = preview.urls.page;
    $('result').src = preview.urls.page;
    $('result-section').hidden = false;
  }

  $('upload-form').addEventListener('submit', async function (e) {
    e.preventDefault();
    if (!chosen) { $('status').textContent = 'Choose a file first.'; $('progress-section').hidden = false; return; }
    var bar = $('progress');
    $('progress-section').hidden = false;
    $('result-section').hidden = true;
    $('submit').disabled = true;
    bar.value = 0;
    bar.dataset.state = 'running';
    try {
      var result = await window.texjailConvert(chosen, {
        converter: $('converter').value,
        main: $('main').value.trim() || undefined,
        execute: $('execute').checked,
        token: $('token').value.trim() || undefined,
        baseUrl: window.location.origin,
        onProgress: function (p) {
          bar.value = Math.round(p.fraction * 100);
          $('status').textContent = describe(p);
        },
        onPreviewResult: function (preview) { showPreview(preview); }
      });
      bar.value = 100;
      bar.dataset.state = 'done';
      $('status').textContent = 'Done: ' + result.status + ' with ' + result.converter + (result.cache_hit ? ' (from the cache)' : '');
      $('summary').textContent = (result.title ? result.title + ' — ' : '') + (result.math_count || 0) + ' formulas, ' + (result.image_count || 0) + ' images';
      $('page-link').href = result.urls.page;
      $('log-link').href = result.urls.log;
      $('bundle-link').href = result.urls.bundle;
      showDiagnostics(result.diagnostics);
      showQuality(result.quality);
      showMainChoice(result.main_file);
      $('result').src = result.urls.page;
      $('result-section').dataset.kind = 'final';
      $('page-kind').textContent = '';
      $('result-section').hidden = false;
    } catch (err) {
      bar.dataset.state = 'failed';
      $('status').textContent = 'Failed: ' + err.message + (err.code ? ' (' + err.code + ')' : '');
      if (err.details && err.details.diagnostics) {
        showDiagnostics(err.details.diagnostics);
        $('result-section').hidden = false;
      }
    } finally {
      $('submit').disabled = false;
    }
  });
})();
