"""Descriptions of security-group rules that name a prefix list, which moto 5.2.5 drops.

AWS keeps a `Description` on every `PrefixListIds` entry of a rule and returns it from
DescribeSecurityGroups; moto keeps only the prefix list's id, so a rule with a description always
read back as changed. Remove this extension when moto keeps them.
"""

from moto.ec2.models.security_groups import SecurityGroup, SecurityGroupRule

WRITTEN_FOR = "moto 5.2.5"


def install() -> None:
    original_init = SecurityGroupRule.__init__

    def __init__(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        # The prefix list entry is the eighth positional argument (after self) or a keyword.
        entry = kwargs.get("prefix_list_id", args[7] if len(args) > 7 else None)
        self.prefix_list_description = (entry or {}).get("Description")

    original_flattened = SecurityGroup._flattened_rules

    def _flattened_rules(self, rules):
        described = {
            (r.ip_protocol, r.from_port, r.to_port, r.prefix_list_id): r.prefix_list_description
            for r in rules
            if r.prefix_list_id and getattr(r, "prefix_list_description", None)
        }
        views = original_flattened(self, rules)
        for view in views:
            for entry in view.prefix_list_ids:
                key = (view.ip_protocol, view.from_port, view.to_port, entry["PrefixListId"])
                if key in described:
                    entry["Description"] = described[key]
        return views

    SecurityGroupRule.__init__ = __init__
    SecurityGroup._flattened_rules = _flattened_rules
