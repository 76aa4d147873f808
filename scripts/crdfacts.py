#!/usr/bin/env python3
"""Writes testdata/crds/ from testdata/crd-structure/ and a folder of upstream CRDs.

    scripts/crdfacts.py UPSTREAM_DIR        (UPSTREAM_DIR holds one folder per project)

testdata/crd-structure/ is the project's choice of which fields each kind types; the
rest of an object stays open (x-kubernetes-preserve-unknown-fields). For every field
the structure types, this copies the schema facts the upstream release declares on it
(defaults, enums, limits, patterns, required fields, list types, CEL rules). A field a
copied CEL rule reads into comes whole from upstream, since CEL cannot read an open
object; WHOLE_* below name the parts taken whole because modelsync's tests exercise
them deeply. TestCRDFidelity (MODELSYNC_UPSTREAM_CRDS=UPSTREAM_DIR) checks the result.
Run it when the upstream releases named in testdata/crds/README.md move.
"""
import copy
import glob
import os
import re
import sys

import yaml

FACTS = ('default', 'enum', 'maxItems', 'minItems', 'x-kubernetes-validations', 'pattern', 'minimum', 'maximum',
         'maxLength', 'minLength', 'format', 'required', 'x-kubernetes-list-type', 'x-kubernetes-list-map-keys',
         'maxProperties', 'minProperties', 'nullable', 'x-kubernetes-map-type', 'exclusiveMinimum', 'exclusiveMaximum',
         'x-kubernetes-int-or-string', 'anyOf')
# kinds whose spec, or whose whole schema, is upstream's
WHOLE_SPEC = {'HTTPRoute'}
WHOLE_SCHEMA = {'InferencePool'}
# spec fields taken whole, per kind
WHOLE_FIELDS = {'BackendTrafficPolicy': ['retry', 'timeout']}


def open_object(s):
    return s.get('x-kubernetes-preserve-unknown-fields') and 'properties' not in s


def fields_rules_read(ours, up):
    """Adds the fields up's CEL rules read that ours leaves open or lacks."""
    for rule in up.get('x-kubernetes-validations', []):
        text = rule['rule']
        for name in set(re.findall(r'self\.([A-Za-z0-9_]+)', text)):
            theirs = (up.get('properties') or {}).get(name)
            mine = (ours.get('properties') or {}).get(name)
            if theirs is None or not (mine is None or open_object(mine)):
                continue
            reads_into = re.search(r'self\.' + name + r'\.(?!size\(|all\(|exists)', text) or theirs.get('type') == 'array'
            if reads_into:
                ours.setdefault('properties', {})[name] = copy.deepcopy(theirs)
            elif mine is None:
                ours.setdefault('properties', {})[name] = {'type': theirs.get('type', 'object'),
                                                           'x-kubernetes-preserve-unknown-fields': True}


def enrich(ours, up):
    if not isinstance(ours, dict) or not isinstance(up, dict) or open_object(ours):
        return
    for k in FACTS:
        if k in up:
            ours[k] = copy.deepcopy(up[k])
        elif k in ours:
            del ours[k]
    fields_rules_read(ours, up)
    for name, sub in (ours.get('properties') or {}).items():
        if name in (up.get('properties') or {}):
            enrich(sub, up['properties'][name])
    if 'items' in ours and 'items' in up:
        enrich(ours['items'], up['items'])


def main(upstream_dir, root):
    upstream = {}
    for f in glob.glob(os.path.join(upstream_dir, '*', '*.yaml')):
        d = yaml.safe_load(open(f))
        upstream[d['metadata']['name']] = d
    yaml.Dumper.ignore_aliases = lambda *a: True
    for f in sorted(glob.glob(os.path.join(root, 'testdata', 'crd-structure', '*.yaml'))):
        d = yaml.safe_load(open(f))
        kind = d['spec']['names']['kind']
        versions = {v['name']: v for v in upstream[d['metadata']['name']]['spec']['versions']}
        for v in d['spec']['versions']:
            theirs = versions[v['name']]
            for k in ('deprecated', 'deprecationWarning'):
                if k in theirs:
                    v[k] = theirs[k]
            if kind in WHOLE_SCHEMA:
                v['schema'] = copy.deepcopy(theirs['schema'])
                continue
            spec, up_spec = v['schema']['openAPIV3Schema']['properties'], theirs['schema']['openAPIV3Schema']['properties']
            if kind in WHOLE_SPEC:
                spec['spec'] = copy.deepcopy(up_spec['spec'])
                continue
            for name in WHOLE_FIELDS.get(kind, []):
                spec['spec']['properties'][name] = copy.deepcopy(up_spec['spec']['properties'][name])
            enrich(spec['spec'], up_spec['spec'])
        out = os.path.join(root, 'testdata', 'crds', os.path.basename(f))
        with open(out, 'w') as w:
            w.write('# Written by scripts/crdfacts.py from testdata/crd-structure/%s; see testdata/crds/README.md.\n'
                    % os.path.basename(f))
            w.write(yaml.dump(d, sort_keys=False, width=120, allow_unicode=True))


if __name__ == '__main__':
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1], os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
