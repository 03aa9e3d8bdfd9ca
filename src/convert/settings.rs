//! The `[convert]` config section (`TEXJAIL_CONVERT_<NAME>`): caps on what
//! the host accepts back from a converter run. Converter output is
//! jail-controlled, so each cap bounds what a hostile document can make the
//! host read or store.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Largest page a converter may produce; a larger one is treated as no
    /// page at all.
    pub max_html_bytes: u64,
    /// Largest single figure kept; larger ones are dropped from the page.
    pub max_asset_bytes: u64,
    /// Most figures kept per result.
    pub max_assets: usize,
    /// Most bytes kept of each converter log in `log.txt`.
    pub max_log_bytes: u64,
    /// Wall-clock (and CPU) seconds the post-conversion step (sanitize,
    /// figures, SVG assets, page rendering) may take; past it the page is
    /// refused.
    pub assemble_timeout_secs: u64,
    /// Address space of the process that runs the post-conversion step;
    /// a page that needs more is refused.
    pub assemble_memory_bytes: u64,
    /// Most cells of a notebook converted; a notebook with more is
    /// refused (`bad_notebook`).
    pub notebook_max_cells: usize,
    /// Most characters kept of one notebook output (a stream, a
    /// traceback, an HTML or text representation) and of one cell's
    /// source; the rest is left out with a note.
    pub notebook_max_output_bytes: u64,
    /// Most pixels (width × height, read from the image's header) of an
    /// image a result shows: a figure, a notebook's output or attachment;
    /// a larger one is left out (a small PNG can claim gigapixels).
    pub max_image_pixels: u64,
    /// Longest a notebook cell may run when the notebook is executed
    /// (`execute=true`); a request may ask for less. A cell past it is
    /// interrupted and marked, the next cells still run.
    pub notebook_cell_timeout_secs: u64,
    /// Address space per process and the job's memory cap of a notebook
    /// run that executes it (the lower of this and `jail.memory_bytes`).
    pub notebook_execute_memory_bytes: u64,
    /// Most bytes of output an executed notebook keeps, all cells
    /// together (each cell keeps at most `notebook_max_output_bytes`);
    /// outputs past it are dropped and their cells marked.
    pub notebook_execute_output_bytes: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_html_bytes: 64 << 20,
            max_asset_bytes: 16 << 20,
            max_assets: 2_000,
            max_log_bytes: 1 << 20,
            assemble_timeout_secs: 30,
            assemble_memory_bytes: 2 << 30,
            notebook_max_cells: 10_000,
            notebook_max_output_bytes: 1 << 20,
            max_image_pixels: 40_000_000,
            notebook_cell_timeout_secs: 30,
            notebook_execute_memory_bytes: 2 << 30,
            notebook_execute_output_bytes: 16 << 20,
        }
    }
}
