#!/usr/bin/env python3
"""Writes a large catalog for scale work: PLACEMENTS placements x VARIANTS variants (rules
on most), LOCALES locales, two messages per variant with plural selectors and
`.anonymous` attributes, plus the demo's channels, traits, segments and policies.

    python3 loadtests/large_catalog.py --out /tmp/large            # 500 x 20, 20 locales
    python3 loadtests/large_catalog.py --placements 50 --variants 20 --locales 4 --out DIR

Then, e.g.: TAILOR_CONTENT_DIR=DIR/content TAILOR_LOCALES_DIR=DIR/locales tailor validate
Deterministic: the same options write the same files.
"""
import argparse
import os
import shutil

LOCALES = ["en", "fr", "de", "es", "it", "pt", "nl", "pl", "sv", "da",
           "fi", "nb", "cs", "hu", "ro", "ja", "ko", "zh", "ar", "tr"]
CHANNELS = ["web", "mobile_app", "email", "push"]
RULES = [
    None,
    'tier == "gold"',
    'tier == "silver" and points >= 500',
    'segments contains "vip"',
    'country in ["FR", "BE", "CA"]',
    'device == "mobile"',
    'points >= 1000 or tier == "gold"',
    'not (tier == "bronze")',
]


def placement_file(p, variants):
    pid = f"scale.p{p:04d}"
    lines = [
        f'id = "{pid}"',
        f'description = "Generated placement {p}"',
        'channels = ["web", "mobile_app"]',
        "",
        "[fields.title]", 'kind = "text"', "required = true",
        "[fields.body]", 'kind = "text"', "required = true",
        "[fields.cta]", 'kind = "link"', "required = false",
        "",
    ]
    for v in range(variants):
        vid = f"scale-p{p:04d}-v{v:02d}"
        rule = RULES[(p + v) % len(RULES)] if v else None
        lines += [
            "[[variant]]",
            f'id = "{vid}"',
            "version = 1",
            'state = "published"',
            f"priority = {0 if rule is None else 10 + (v % 5)}",
        ]
        if rule:
            lines.append(f"rule = '{rule}'")
        lines += [
            "[variant.fields]",
            f'title = {{ message = "{vid}-title" }}',
            f'body = {{ message = "{vid}-body" }}',
            f'cta = {{ url = "https://shop.example.com/scale/{p}/{v}" }}',
            "",
        ]
    return "\n".join(lines)


def fluent_file(p, variants, locale):
    out = [f"# Generated messages of scale.p{p:04d} ({locale})", ""]
    for v in range(variants):
        vid = f"scale-p{p:04d}-v{v:02d}"
        out += [
            f"{vid}-title = {{ $first_name }}, offer {v} of placement {p} [{locale}]",
            f"    .anonymous = Offer {v} of placement {p} [{locale}]",
            f"{vid}-body =",
            "    { $points ->",
            f"        [one] You have one point: see what placement {p} holds for you today.",
            f"       *[other] You have {{ $points }} points: see what placement {p} holds for you today.",
            "    }",
            f"    .anonymous = See what placement {p} holds for you today.",
            "",
        ]
    return "\n".join(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--placements", type=int, default=500)
    parser.add_argument("--variants", type=int, default=20)
    parser.add_argument("--locales", type=int, default=20, help=f"at most {len(LOCALES)}")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    content = os.path.join(args.out, "content")
    locales = os.path.join(args.out, "locales")
    shutil.rmtree(args.out, ignore_errors=True)
    os.makedirs(os.path.join(content, "placements"))
    for name in ["channels.toml", "traits.toml", "segments.toml", "governance.toml"]:
        shutil.copy(os.path.join(repo, "content", name), content)
    for p in range(args.placements):
        with open(os.path.join(content, "placements", f"scale.p{p:04d}.toml"), "w") as f:
            f.write(placement_file(p, args.variants))
    for locale in LOCALES[: args.locales]:
        os.makedirs(os.path.join(locales, locale))
        for p in range(args.placements):
            with open(os.path.join(locales, locale, f"scale-p{p:04d}.ftl"), "w") as f:
                f.write(fluent_file(p, args.variants, locale))
    total = args.placements * args.variants
    print(f"{args.out}: {args.placements} placements, {total} variants, "
          f"{min(args.locales, len(LOCALES))} locales, {2 * total} messages per locale")


if __name__ == "__main__":
    main()
