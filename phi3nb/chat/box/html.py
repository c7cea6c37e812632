"""How the chat box shows a message: Markdown with raw HTML off, so typed or generated HTML is text.

Colours come from JupyterLab's theme variables, mixed so that every bubble keeps >= 4.5:1
contrast in the Light and the Dark theme (the browser test measures it).
"""

import html

# One <style> for the whole chat box. Message text is escaped, so it can never add CSS of its own.
CSS = """<style>
.phi3nb-msg{display:flex;flex-direction:column;font-size:var(--jp-content-font-size1,14px);line-height:1.5}
.phi3nb-user,.phi3nb-assistant,.phi3nb-error{max-width:85%;padding:4px 12px;border-radius:10px;margin:4px 0;
  overflow-wrap:anywhere;color:var(--jp-content-font-color1,#222)}
.phi3nb-user{align-self:flex-end;background:var(--jp-layout-color2,#dbeafe);
  background:color-mix(in srgb,var(--jp-brand-color1,#1976d2) 22%,var(--jp-layout-color1,#fff))}
.phi3nb-assistant{align-self:flex-start;background:var(--jp-layout-color2,#eee)}
.phi3nb-error{align-self:stretch;max-width:100%;border-left:4px solid var(--jp-error-color1,#d32f2f);
  background:color-mix(in srgb,var(--jp-error-color1,#d32f2f) 15%,var(--jp-layout-color1,#fff))}
.phi3nb-note,.phi3nb-stats{color:var(--jp-content-font-color2,#555);font-size:var(--jp-ui-font-size1,13px);line-height:1.4}
.phi3nb-note{align-self:center;font-style:italic;margin:4px 0}
.phi3nb-msg p,.phi3nb-msg ul,.phi3nb-msg ol,.phi3nb-msg pre{margin:6px 0}
.phi3nb-msg pre{white-space:pre-wrap;background:var(--jp-layout-color3,#ccc);padding:6px;border-radius:4px}
.phi3nb-msg a{color:inherit;text-decoration:underline}
.phi3nb-chat{border:1px solid var(--jp-border-color2,#ddd);border-radius:6px;padding:4px 8px}
.phi3nb-load{color:var(--jp-content-font-color2,#555);font-size:var(--jp-ui-font-size1,13px);line-height:1.4;
  margin:2px 0 4px;overflow-wrap:anywhere}
.phi3nb-load-now::after{content:"";display:inline-block;width:.7em;height:.7em;margin-left:.4em;
  border:2px solid currentColor;border-right-color:transparent;border-radius:50%;vertical-align:-1px;
  animation:phi3nb-spin 1s linear infinite}
@keyframes phi3nb-spin{to{transform:rotate(360deg)}}
</style>"""
EMPTY = "Ask me anything. Enter sends."
CURSOR = " ▌"  # shown at the end of a reply while it streams


def markdown_renderer():
    """CommonMark with raw HTML and images off (no remote fetches), links opening in a new tab."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False, "breaks": True}).enable(["table", "strikethrough"])
    md.disable("image")

    def link_open(tokens, idx, options, env):
        tokens[idx].attrSet("target", "_blank")
        tokens[idx].attrSet("rel", "noopener noreferrer")
        return md.renderer.renderToken(tokens, idx, options, env)

    md.add_render_rule("link_open", link_open)
    return md


def message_html(md, role, text, *, streaming=False):
    """One message: a bubble (user, assistant, error) or a centred note."""
    if role in ("note", "error"):
        body = html.escape(text).replace("\n", "<br>")
    else:
        body = md.render(text + (CURSOR if streaming else ""))
    return f'<div class="phi3nb-msg"><div class="phi3nb-{role}">{body}</div></div>'


def stats_html(stats):
    """The line beside a reply's Copy button: length, speed, and why it ended."""
    return f'<div class="phi3nb-stats">{html.escape(stats)}</div>' if stats else ""


def load_html(lines, elapsed, state):
    """The load's lines over the transcript; while `state` is "loading" the last one runs a clock.

    Once loaded, a line after the first that ends in "..." (a step under way) has had its outcome told by
    the lines after it, so only the first (what loads, where) and the outcomes stay, as load_genai printed.
    """
    if state == "ready":
        lines = lines[:1] + [line for line in lines[1:] if not line.endswith("...")]
    lines = [line[:1].upper() + line[1:] for line in lines] or ["Loading the model..."]
    if state == "failed":
        lines.append(f"The model did not load ({elapsed:.1f} s): the error is below.")
    rows = [f"<div>{html.escape(line)}</div>" for line in lines]
    if state == "loading":
        rows[-1] = f'<div class="phi3nb-load-now">{html.escape(lines[-1])} {elapsed:.0f} s</div>'
    return f'<div class="phi3nb-load">{"".join(rows)}</div>'


def status_html(text):
    """The line under the transcript (e.g. "still answering"): empty text shows nothing."""
    return f'<div class="phi3nb-msg"><div class="phi3nb-note">{html.escape(text)}</div></div>' if text else ""
