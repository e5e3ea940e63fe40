"""Case documents: Jinja2 templates, print CSS, the consent catalogue and the PDF/A renderer.

``documents.context.build_context`` turns a survivor's profile, the case metadata and the
workflow's facts into a template context; ``documents.renderer.get_renderer().render`` turns
that context into a PDF/A-3b file and its HTML source.
"""
