"use client";
// Safe markdown for messages: GitHub-flavoured, code highlighted, raw HTML
// shown as text (never parsed), links only http(s), mailto and relative.
// Text is split into top-level blocks, each a memoised component: while an
// answer streams only its last block changes, so finished blocks are never
// re-parsed.
import { memo, type ReactNode } from "react";
import ReactMarkdown, { type Components } from "react-markdown";
import rehypeHighlight from "rehype-highlight";
import remarkGfm from "remark-gfm";

/** A URL we are willing to put in an href: http(s), mailto, or relative (no scheme). */
export function safeUrl(url: string): string | undefined {
  const trimmed = url.trim();
  // Strip control characters and whitespace that browsers ignore inside schemes ("java\tscript:").
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  const probe = trimmed.replace(/[\u0000-\u0020]/g, "").toLowerCase();
  const scheme = /^([a-z][a-z0-9+.-]*):/.exec(probe);
  if (!scheme) return trimmed.startsWith("//") ? undefined : trimmed;
  return ["http", "https", "mailto"].includes(scheme[1] ?? "") ? trimmed : undefined;
}

const components: Components = {
  a: ({ href, children }) => {
    if (!href) return <span className="underline decoration-dotted">{children}</span>;
    const external = /^(https?:|mailto:)/i.test(href);
    return (
      <a href={href} {...(external ? { target: "_blank", rel: "noopener noreferrer nofollow" } : {})}>
        {children}
      </a>
    );
  },
  // No remote images in messages (tracking pixels): show the alt text as a link.
  img: ({ src, alt }) => {
    const href = typeof src === "string" ? safeUrl(src) : undefined;
    return href ? (
      <a href={href} target="_blank" rel="noopener noreferrer nofollow">
        [image: {alt || href}]
      </a>
    ) : (
      <span>[image: {alt}]</span>
    );
  },
};

/** Raw HTML in markdown becomes literal text (remark "html" nodes → "text"). */
function remarkHtmlAsText() {
  return (tree: MdNode) => {
    const visit = (node: MdNode) => {
      if (node.type === "html") node.type = "text";
      node.children?.forEach(visit);
    };
    visit(tree);
  };
}
interface MdNode {
  type: string;
  value?: string;
  children?: MdNode[];
}

const MarkdownBlock = memo(function MarkdownBlock({ source }: { source: string }) {
  return (
    <ReactMarkdown
      remarkPlugins={[remarkGfm, remarkHtmlAsText]}
      rehypePlugins={[[rehypeHighlight, { detect: false, ignoreMissing: true }]]}
      urlTransform={(url) => safeUrl(url)}
      components={components}
    >
      {source}
    </ReactMarkdown>
  );
});

/** Split at blank lines outside fenced code blocks. */
export function markdownBlocks(text: string): string[] {
  const blocks: string[] = [];
  let current: string[] = [];
  let fence: string | null = null;
  for (const line of text.split("\n")) {
    const marker = /^\s{0,3}(`{3,}|~{3,})/.exec(line)?.[1];
    if (marker) {
      if (fence === null) fence = marker[0]!.repeat(marker.length);
      else if (marker.startsWith(fence)) fence = null;
    }
    if (fence === null && line.trim() === "" && current.length > 0) {
      blocks.push(current.join("\n"));
      current = [];
    } else if (!(fence === null && line.trim() === "" && current.length === 0)) {
      current.push(line);
    }
  }
  if (current.length > 0) blocks.push(current.join("\n"));
  return blocks;
}

export function Markdown({ text, trailing }: { text: string; trailing?: ReactNode }) {
  const blocks = markdownBlocks(text);
  return (
    <div className="prose-msg" data-streaming={trailing ? "" : undefined}>
      {blocks.map((block, i) => (
        <MarkdownBlock key={i} source={block} />
      ))}
      {trailing}
    </div>
  );
}
