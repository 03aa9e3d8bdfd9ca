//! Small projects written at test time (no committed binaries): figures
//! of every kind are generated here byte by byte.

use std::io::Write;

use tempfile::TempDir;

fn project(files: &[(&str, &[u8])]) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    dir
}

/// A short article: a section, inline and display math, a table.
pub fn small_project() -> TempDir {
    project(&[(
        "main.tex",
        br"\documentclass{article}
\begin{document}
\section{Energy}
Einstein wrote $E = mc^2$ and
\begin{equation} \int_0^1 x^2\,dx = \frac{1}{3}. \end{equation}
\begin{tabular}{ll} a & b \\ c & d \end{tabular}
\end{document}
",
    )])
}

/// PNG, EPS, PDF and SVG figures plus a TikZ picture, and the PDF once
/// more in a box saved in the preamble (an ORCID logo's way).
pub fn figures_project() -> TempDir {
    let dir = project(&[
        (
            "main.tex",
            br"\documentclass{article}
\usepackage{graphicx}
\usepackage{tikz}
\newsavebox{\logo}\sbox{\logo}{\includegraphics[width=1cm]{figs/page.pdf}}
\begin{document}
By \usebox{\logo} the authors.
\section{Figures}
\includegraphics[width=2cm]{figs/raster.png}
\includegraphics[width=2cm]{figs/vector.eps}
\includegraphics[width=2cm]{figs/page.pdf}
\includegraphics[width=2cm]{figs/drawing.svg}
\begin{tikzpicture}\draw[thick] (0,0) circle (1);\end{tikzpicture}
\end{document}
",
        ),
        ("figs/vector.eps", EPS.as_bytes()),
        ("figs/drawing.svg", SVG.as_bytes()),
    ]);
    std::fs::write(dir.path().join("figs/raster.png"), png(16, 16)).unwrap();
    std::fs::write(dir.path().join("figs/page.pdf"), pdf()).unwrap();
    dir
}

/// A listing that shows an HTML image tag, a real figure and a figure
/// named `.png` that is no PNG (the converters reference it, assembly
/// refuses it, so its `<img>` keeps no `src`).
pub fn html_listing_project() -> TempDir {
    let dir = project(&[
        (
            "main.tex",
            br#"\documentclass{article}
\usepackage{graphicx}
\begin{document}
\section{Listing}
The page shows this tag:
\begin{verbatim}
<img src="logo.png" alt="x">
\end{verbatim}
A real figure: \includegraphics[width=1cm]{fig.png}
and one that is not an image: \includegraphics[width=1cm]{logo.png}
\end{document}
"#,
        ),
        ("logo.png", b"not a PNG, only named like one\n"),
    ]);
    std::fs::write(dir.path().join("fig.png"), png(16, 16)).unwrap();
    dir
}

/// TeX loops forever on this (tail recursion, no memory growth), so only
/// the wall-clock limit stops it.
pub fn runaway_project() -> TempDir {
    project(&[(
        "main.tex",
        br"\documentclass{article}
\begin{document}
\def\x{\x}\x
\end{document}
",
    )])
}

/// A short document that prints the lines a converter's own timeout
/// leaves in its log (`\typeout` and `\message` reach LaTeXML's log and
/// TeX's terminal output, which is make4ht's), then finishes at once.
pub fn spoofed_timeout_project() -> TempDir {
    project(&[(
        "main.tex",
        br"\documentclass{article}
\typeout{Fatal:timeout:timedout Conversion timed out}
\begin{document}
\typeout{Fatal:timeout}
\message{^^JFatal:timeout:timedout Conversion timed out^^J}
\immediate\write16{Fatal:timeout}
Einstein wrote $E = mc^2$.
\end{document}
",
    )])
}

/// Two macros expanding into each other: TeX and LaTeXML loop forever
/// (LaTeXML stops `\def\x{\x}\x` at once as a self-expansion).
pub fn latexml_runaway_project() -> TempDir {
    project(&[(
        "main.tex",
        br"\documentclass{article}
\begin{document}
\def\a{\b}\def\b{\a}\a
\end{document}
",
    )])
}

/// 101 distinct undefined macros, each in its own paragraph: LaTeXML stops
/// with a fatal "too many errors", real LaTeX resets its error count per
/// paragraph and finishes.
pub fn latexml_fatal_project() -> TempDir {
    let mut body = String::from("\\documentclass{article}\n\\begin{document}\nMath \\(x^2\\).\n\n");
    for i in 0..110 {
        let name: String = format!("{i:03}")
            .bytes()
            .map(|d| (b'a' + (d - b'0')) as char)
            .collect();
        body.push_str(&format!("Paragraph {i} \\undefined{name}\n\n"));
    }
    body.push_str("\\end{document}\n");
    project(&[("main.tex", body.as_bytes())])
}

/// Spanish passages with math (babel-spanish redefines the operators
/// on every switch into Spanish).
pub fn spanish_project() -> TempDir {
    project(&[(
        "main.tex",
        br"\documentclass{article}
\usepackage[T1]{fontenc}
\usepackage[english,spanish,brazil]{babel}
\begin{document}
Resumo em portugu\^es.
\begin{otherlanguage*}{spanish}
Resumen en espa\~nol: $\lim_{n} a_n = 0$ y 5\%.
\end{otherlanguage*}
\end{document}
",
    )])
}

/// A beamer frame with a TikZ picture: beamer loads pgf before tex4ht's
/// TikZ hook, so the picture takes pgf's own tex4ht driver.
pub fn beamer_tikz_project() -> TempDir {
    project(&[(
        "main.tex",
        br"\documentclass{beamer}
\usepackage{tikz}
\begin{document}
\begin{frame}{Hackenbush}
A game $\mathcal{G}_n = \{ G^L \mid G^R \}$.
\begin{tikzpicture}\draw[thick,red] (0,0) -- (0,1) -- (1,1);\end{tikzpicture}
\end{frame}
\end{document}
",
    )])
}

/// A ctex document whose chapters have dots in their names
/// (`\input{chap/chap.01.intro}`), like lshort-zh-cn.
pub fn ctex_dotted_chapters_project() -> TempDir {
    project(&[
        (
            "main.tex",
            br"\documentclass{article}
\usepackage[fontset=fandol]{ctex}
\begin{document}
\input{chap/chap.01.intro}
\input{chap/chap.02.math}
\end{document}
",
        ),
        (
            "chap/chap.01.intro.tex",
            "\\section{简介}\n欢迎使用 \\LaTeX{}！\n".as_bytes(),
        ),
        (
            "chap/chap.02.math.tex",
            "\\section{数学}\n公式 $a^2 + b^2 = c^2$。\n".as_bytes(),
        ),
    ])
}

/// A macro that names itself behind a conditional TeX evaluates (the
/// Russian thesis template's running TOC header): TeX stops, a macro
/// expander that ignores `\if...` does not.
pub fn recursive_macro_project() -> TempDir {
    project(&[(
        "main.tex",
        br"\documentclass{article}
\usepackage{afterpage}
\newif\ifendTOC
\newcommand*{\tocheader}{%
  \ifendTOC\else Contents (continued)%
    \afterpage{\tocheader}%
  \fi}
\begin{document}
Before the header. \tocheader\endTOCtrue
After the header: $x^2$.
\end{document}
",
    )])
}

/// Figures named by absolute and parent-relative paths.
pub fn hostile_paths_project() -> TempDir {
    project(&[(
        "main.tex",
        br"\documentclass{article}
\usepackage{graphicx}
\begin{document}
Before.
\includegraphics{/etc/passwd}
\includegraphics{../../../../../etc/passwd}
\includegraphics{/proc/self/environ}
After.
\end{document}
",
    )])
}

const EPS: &str = "%!PS-Adobe-3.0 EPSF-3.0
%%BoundingBox: 0 0 100 100
%%EndComments
newpath 10 10 moveto 90 90 lineto 90 10 lineto closepath
0.2 0.4 0.8 setrgbcolor fill
showpage
%%EOF
";

const SVG: &str = r#"<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100" viewBox="0 0 100 100"><circle cx="50" cy="50" r="40" fill="teal"/></svg>"#;

/// A `w`×`h` RGB PNG (a gradient), encoded here: zlib stream from flate2,
/// chunk CRCs from flate2's CRC-32.
pub fn png(w: u32, h: u32) -> Vec<u8> {
    let mut raw = Vec::new();
    for y in 0..h {
        raw.push(0); // filter: none
        for x in 0..w {
            raw.extend_from_slice(&[(x * 16) as u8, (y * 16) as u8, 128]);
        }
    }
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(&raw).unwrap();
    let idat = z.finish().unwrap();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    for (kind, data) in [(b"IHDR", ihdr), (b"IDAT", idat), (b"IEND", Vec::new())] {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(&data);
        out.extend_from_slice(kind);
        out.extend_from_slice(&data);
        out.extend_from_slice(&crc.sum().to_be_bytes());
    }
    out
}

/// A one-page PDF drawing a filled triangle, with a correct xref table.
pub fn pdf() -> Vec<u8> {
    let content = "0.8 0.2 0.2 rg 10 10 m 90 90 l 90 10 l f";
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 100 100] /Contents 4 0 R >>".to_string(),
        format!(
            "<< /Length {} >>\nstream\n{content}\nendstream",
            content.len()
        ),
    ];
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{body}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for offset in offsets {
        out.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

/// Figures named without folder or extension, found through
/// `\graphicspath` (one folder in a subfolder of the main file's, one
/// entry pointing outside the project), like the Russian thesis template.
pub fn graphicspath_project() -> TempDir {
    project(&[
        (
            "main.tex",
            br"\documentclass{article}
\usepackage{graphicx}
\graphicspath{{../}{pictures/raster/}{/etc/}}
\begin{document}
A dotted figure: \includegraphics[width=2cm]{dots}
and a square: \includegraphics[width=2cm]{square}.
\end{document}
",
        ),
        (
            "pictures/raster/dots.png",
            include_bytes!("../../samples/article/figures/dots.png"),
        ),
        (
            "pictures/raster/square.pdf",
            include_bytes!("../../samples/article/figures/square.pdf"),
        ),
    ])
}

/// A short article loading xfp, an expl3 package the scan does not know:
/// LaTeXML 0.8.7 can only interpret the LaTeX3 kernel raw, which it never
/// finishes, so only the driver's watcher stops it.
pub fn expl3_project() -> TempDir {
    project(&[(
        "main.tex",
        br"\documentclass{article}
\usepackage{xfp}
\begin{document}
\section{Sums}
One and two make \fpeval{1 + 2}, and $x^2 + y^2 = 1$.
\end{document}
",
    )])
}

/// The same loading xparse, which the scan knows: refused up front.
pub fn xparse_project() -> TempDir {
    project(&[(
        "main.tex",
        br"\documentclass{article}
\usepackage{xparse}
\NewDocumentCommand{\pair}{mm}{(#1, #2)}
\begin{document}
\section{Pairs}
The pair \pair{a}{b} and $x^2 + y^2 = 1$.
\end{document}
",
    )])
}

/// Nine small TikZ pictures, one more than LaTeXML is tried on (corpus
/// project 29 has 26).
pub fn many_tikz_pictures_project() -> TempDir {
    let pictures: String = (0..12)
        .map(|i| {
            format!(
                "\\begin{{tikzpicture}}\\draw (0,0) circle ({}mm);\\end{{tikzpicture}}\n",
                i + 1
            )
        })
        .collect();
    let tex = format!(
        "\\documentclass{{article}}\n\\usepackage{{tikz}}\n\\begin{{document}}\nCircles.\n{pictures}\\end{{document}}\n"
    );
    project(&[("main.tex", tex.as_bytes())])
}

/// TikZ pictures as pandoc meets them: one inline, one `\input` from a
/// `.tikz` file with its own styles, a pgfplots axis, one that cannot
/// render (an undefined command), and pictures pandoc must not be handed
/// (in a macro definition, in a comment, in a verbatim block).
pub fn pandoc_pictures_project() -> TempDir {
    project(&[
        (
            "main.tex",
            br"\documentclass{article}
\usepackage{tikz}
\usepackage{pgfplots}
\pgfplotsset{compat=1.18}
\newcommand{\tikzdot}{\begin{tikzpicture}\fill (0,0) circle (1pt);\end{tikzpicture}}
\begin{document}
\section{Pictures}
An inline circle:
\begin{tikzpicture}\draw[thick] (0,0) circle (1) node {inline};\end{tikzpicture}

\begin{figure}[ht]
  \centering
  \input{figs/arrow.tikz}
  \caption{A picture from a file.}
\end{figure}

\begin{figure}[ht]
  \centering
  \begin{tikzpicture}
    \begin{axis}[width=5cm, xlabel=$x$]
      \addplot[domain=0:2] {x^2};
    \end{axis}
  \end{tikzpicture}
  \caption{A pgfplots axis.}
\end{figure}

Broken: \begin{tikzpicture}\undefinedpicturecommand\draw (0,0) -- (1,1);\end{tikzpicture}

% \begin{tikzpicture}\draw (0,0) -- (1,0);\end{tikzpicture}
\begin{verbatim}
\begin{tikzpicture}\draw (0,0) -- (1,0);\end{tikzpicture}
\end{verbatim}
The end.
\end{document}
",
        ),
        (
            "figs/arrow.tikz",
            br"\tikzset{fat/.style={line width=2pt}}
\begin{tikzpicture}
  \draw[fat, ->] (0,0) -- (2,1) node[right] {file};
\end{tikzpicture}
",
        ),
    ])
}

/// Images inside commands pandoc drops with their arguments: a wrapper
/// from the project's own package (pandoc does not read `.sty` files),
/// `\resizebox`, `\subfloat`, `\IfFileExists` and a TikZ picture inside
/// `\scalebox`.
pub fn pandoc_wrapped_images_project() -> TempDir {
    let dir = project(&[
        (
            "main.tex",
            br"\documentclass{article}
\usepackage{graphicx}
\usepackage{subfig}
\usepackage{tikz}
\usepackage{floatwrap}
\begin{document}
\section{Wrapped}
\begin{figure}[ht]
  \centerfloat{
    \includegraphics[width=2cm]{figs/one.png}
  }
  \caption{Own wrapper.}
\end{figure}
\begin{figure}[ht]
  \resizebox{3cm}{!}{\includegraphics{figs/two.png}}
  \subfloat[Sub caption]{\includegraphics{figs/three.png}}
  \caption{Boxes.}
\end{figure}
\IfFileExists{figs/four.png}{\includegraphics{figs/four.png}}{MissingBranch}
\scalebox{0.5}{\begin{tikzpicture}\draw (0,0) circle (1);\end{tikzpicture}}
The end.
\end{document}
",
        ),
        (
            "floatwrap.sty",
            br"\newcommand{\centerfloat}[1]{\makebox[\linewidth]{#1}}
",
        ),
    ]);
    std::fs::create_dir(dir.path().join("figs")).unwrap();
    for name in ["one", "two", "three", "four"] {
        std::fs::write(dir.path().join(format!("figs/{name}.png")), png(8, 8)).unwrap();
    }
    dir
}

/// Figures TeX finds in TeX Live, not in the project: mwe's
/// `example-image-c` (PNG and PDF there) and duckuments'
/// `example-image-duck` (PDF only).
pub fn texlive_figures_project() -> TempDir {
    project(&[(
        "main.tex",
        br"\documentclass{article}
\usepackage{graphicx}
\begin{document}
Figures from TeX Live:
\includegraphics[width=3cm]{example-image-c}
\includegraphics[width=3cm]{example-image-duck}
The end.
\end{document}
",
    )])
}

/// A paper among the side documents real repositories hold beside it: a
/// response to the reviewers (a `letter`), an earlier draft in `old/`
/// and a `_clean` copy. Only the paper inputs the section files.
pub fn paper_among_side_documents() -> TempDir {
    let paper = br"\documentclass{article}
\begin{document}
\title{Main results}
\maketitle
\input{sections/intro}
\input{sections/method}
\bibliographystyle{plain}
\end{document}
";
    project(&[
        ("paper.tex", paper),
        (
            "paper_clean.tex",
            b"\\documentclass{article}\n\\begin{document}\nClean copy.\n\\end{document}\n",
        ),
        ("old/paper.tex", paper),
        (
            "response-to-reviewers.tex",
            b"\\documentclass{letter}\n\\begin{document}\nDear editor.\n\\end{document}\n",
        ),
        ("sections/intro.tex", b"\\section{Intro}\nWe study $x^2$.\n"),
        (
            "sections/method.tex",
            b"\\section{Method}\nWe compute $y$.\n",
        ),
    ])
}

/// Notation in a local class: LaTeXML (which reads local packages but no
/// local class) shows the text macro raw, real LaTeX does not.
pub fn local_class_project() -> TempDir {
    let mut body = String::from("\\documentclass{notation}\n\\begin{document}\n\\section{Intro}\n");
    for i in 0..8 {
        body.push_str(&format!(
            "Paragraph {i}: the \\tool{{}} computes $\\R^{i}$.\n\n"
        ));
    }
    body.push_str("\\end{document}\n");
    project(&[
        ("main.tex", body.as_bytes()),
        (
            "notation.cls",
            b"\\ProvidesClass{notation}\n\\LoadClass{article}\n\\newcommand{\\tool}{\\textbf{Solver}}\n\\newcommand{\\R}{\\mathbb{R}}\n\\RequirePackage{amssymb}\n",
        ),
    ])
}

/// Notation in a local class and in a package that class requires: pandoc
/// reads neither by itself.
pub fn class_macros_project() -> TempDir {
    let mut body = String::from("\\documentclass{paperclass}\n\\begin{document}\n");
    for i in 0..6 {
        body.push_str(&format!(
            "Claim {i}: $x_{i} \\in \\R$ and $\\ket{{\\psi_{i}}} \\perp \\Ltwo$.\n\n"
        ));
    }
    body.push_str("\\end{document}\n");
    project(&[
        ("main.tex", body.as_bytes()),
        (
            "paperclass.cls",
            b"\\NeedsTeXFormat{LaTeX2e}\n\\ProvidesClass{paperclass}\n\\LoadClass{article}\n\\RequirePackage{amssymb}\n\
\\RequirePackage{sty/quantum}\n\\newcommand{\\R}{\\mathbb{R}}\n\\makeatletter\n\\def\\@internal{x}\n\\makeatother\n",
        ),
        (
            "sty/quantum.sty",
            b"\\ProvidesPackage{quantum}\n\\newcommand{\\ket}[1]{\\left|#1\\right\\rangle}\n\\DeclareMathOperator{\\Ltwo}{L^2}\n",
        ),
    ])
}

/// Formulas pandoc cannot parse (an undefined macro): its page shows them
/// as TeX.
pub fn unparsable_math_project() -> TempDir {
    let mut body = String::from("\\documentclass{article}\n\\begin{document}\n");
    for i in 0..6 {
        body.push_str(&format!("Item {i}: $\\nosuchmacro{{{i}}} + 1$.\n\n"));
    }
    body.push_str("\\end{document}\n");
    project(&[("main.tex", body.as_bytes())])
}

/// A paper whose zip lacks files it reads: a package TeX Live does not
/// have and a generated `version.tex`, then a citation resolved from the
/// project's `.bib` (so the bibliography pre-pass must get past both).
pub fn missing_files_project() -> TempDir {
    project(&[
        (
            "main.tex",
            br"\documentclass{article}
\usepackage{quiver-not-in-texlive}
\begin{document}
\input{version.tex}
After the missing file, $a^2+b^2=c^2$ as shown by \cite{pythagoras}.
\bibliographystyle{plain}
\bibliography{refs}
\end{document}
",
        ),
        (
            "refs.bib",
            b"@book{pythagoras, title={Elements}, author={Euclid}, year={300}}\n",
        ),
    ])
}

/// A paper whose own package pandoc cannot read (a definition built with
/// `\@ifnextchar`, as the widebar answer every analysis text copies is),
/// beside plain notation, and formulas with commands of LaTeX and its
/// packages that pandoc's math reader lacks (`\hbox`, `\nicefrac`,
/// `\vphantom`, `\cfrac`), one of which the document defines itself.
pub fn package_pandoc_cannot_read_project() -> TempDir {
    let mut body = String::from(
        "\\documentclass{article}\n\\usepackage{amsmath}\n\\usepackage{notation}\n\
         \\newcommand{\\smash}[1]{\\boxed{#1}}\n\\begin{document}\n",
    );
    for i in 0..4 {
        body.push_str(&format!(
            "Claim {i}: $x_{i} \\in \\R \\hbox{{ for all }} \\nicefrac{{1}}{{2}} \\vphantom{{y}}$ and\n\
             \\begin{{equation}}\\cfrac{{1}}{{1+x_{i}}} = \\smash{{q}}\\end{{equation}}\n\n"
        ));
    }
    body.push_str("Bar: $\\widebar{A}$.\n\\end{document}\n");
    project(&[
        ("main.tex", body.as_bytes()),
        (
            "notation.sty",
            b"\\ProvidesPackage{notation}\n\\newcommand{\\R}{\\mathbb{R}}\n\\makeatletter\n\
\\newcommand*\\widebar[1]{\\@ifnextchar^{{\\wide@bar{#1}{0}}}{\\wide@bar{#1}{1}}}\n\
\\newcommand*\\wide@bar[2]{\\overline{#1}}\n\\makeatother\n",
        ),
    ])
}

/// A beamer talk whose steps are overlays: commands pandoc drops whole
/// or prints with their specification.
pub fn beamer_overlays_project() -> TempDir {
    project(&[(
        "talk.tex",
        br"\documentclass{beamer}
\begin{document}
\begin{frame}{Steps}
\alt<2>{Revealed claim}{Placeholder} and \only<3->{third step}.
\uncover<2>{Uncovered words} \visible<1>{visible words}
\begin{itemize}[<+->]
\item<1-> first point
\item<2-| alert@2> second point with $a<b$ and $c > d$
\end{itemize}
\begin{block}<3>{Block title} block body \end{block}
\end{frame}
\end{document}
",
    )])
}

/// Sub- and superscripts written without braces around a command with
/// arguments, as physics and statistics papers write them.
pub fn unbraced_scripts_project() -> TempDir {
    project(&[(
        "main.tex",
        br"\documentclass{article}
\usepackage{amsmath}
\begin{document}
Zero $f_\text{R}\ge0$, with $A^\mathrm{T} x_\frac{1}{2}$ and $y_\mathbf{v}$.
\begin{equation}\sigma_\text{s} = 2\mu\varepsilon\end{equation}
Single tokens: \(\Pi_\mathcal F\), $w_\frac 12$, $x^\hat\alpha$.
\end{document}
",
    )])
}

/// What tex4ht used to stop on or spoil: operators its MathML gives
/// `\limits` to, redefined as something else (beside ones left as
/// operators), mathtools' `multlined` with and without options, amsmath's
/// `split`, and page decorations (a draft watermark, a background).
pub fn tex4ht_traps_project() -> TempDir {
    project(&[(
        "main.tex",
        br"\documentclass{article}
\usepackage{amsmath,amssymb,mathtools}
\usepackage[firstpage]{draftwatermark}
\SetWatermarkText{Work-in-progress}
\usepackage{background}
\backgroundsetup{contents={Confidential draft}}
\renewcommand{\Pr}{\mathbb{P}}
\renewcommand{\det}{\mathrm{det}}
\let\gcd\relax
\newcommand{\gcd}{\mathsf{gcd}}
\renewcommand{\max}{\operatorname*{max}}
\begin{document}
\begin{equation}\Pr\left(x \in A\right) = \int_A p(x)\,\mathrm{d}x\end{equation}
Also $\det A$, $\gcd(a,b)$, $\max_{i} x_i$ and $\lim_{n\to\infty} \sup_k a_k$.
\begin{equation}
\begin{multlined}[t][5cm]
a + b + c \\[2pt]
+ d + e
\end{multlined} + \begin{multlined} x \\ y \end{multlined}
\end{equation}
\begin{equation}\begin{split} f &= g \\ &= h \end{split}\end{equation}
\[ \begin{split} u &= v \end{split} \]
\end{document}
",
    )])
}
