#!/usr/bin/env python3
"""Generate hongyan's demo city (config/demo/): orgs, members and a small story of events.

Run from the workspace root:  python3 scripts/gen-demo.py

Standard library only, fixed seed: the same run writes the same bytes. Every name, phone,
employer and address is invented; phones sit in obviously fake ranges (139 0000 xxxx for
members, 138 0000 xxxx for branch committee members, 137 0000 xxxx for other org contacts,
136 0000 xxxx for inflow-side contacts, 135 0000 xxxx for people who are no member, 139 0001
xxxx for numbers members change to). The generator checks DESIGN.md section 2's field rules
and each member's event order before it writes anything.
"""

import datetime as dt
import json
import os
import random
import re
import sys
import uuid

SEED = 20260217  # Spring Festival 2026: the season the story starts in
OUT = os.path.join("config", "demo")
TZ = dt.timezone(dt.timedelta(hours=8))

rng = random.Random(SEED)

# --------------------------------------------------------------------------------------------
# Names and phones

SURNAMES = [
    ("杨", "yang"), ("吴", "wu"), ("王", "wang"), ("潘", "pan"), ("李", "li"), ("张", "zhang"),
    ("陈", "chen"), ("刘", "liu"), ("龙", "long"), ("石", "shi"), ("罗", "luo"), ("黄", "huang"),
    ("韦", "wei"), ("蒙", "meng"), ("顾", "gu"), ("万", "wan"), ("邰", "tai"), ("余", "yu"),
    ("赵", "zhao"), ("周", "zhou"), ("欧", "ou"), ("文", "wen"),
]
GIVEN = list("建国明华秀英兰芳志强德勇红梅春生光荣文军伟丽玉海平金云霞林成福贵才松涛燕琴敏"
             "静丹晓晨宇鑫浩婷雪波胜利辉洪亮娟莉江山祥瑞昌永清")

_used_names = set()


def person_name():
    """A fresh invented name: surname + one or two given characters, never repeated."""
    while True:
        sur, _ = rng.choice(SURNAMES)
        n = 1 if rng.random() < 0.3 else 2
        given = "".join(rng.choice(GIVEN) for _ in range(n))
        if n == 2 and given[0] == given[1] and rng.random() < 0.7:
            continue
        name = sur + given
        if name not in _used_names:
            _used_names.add(name)
            return name


def pinyin_of(name):
    for sur, py in SURNAMES:
        if name.startswith(sur):
            return py
    return "clerk"


class PhoneRange:
    def __init__(self, prefix):
        assert len(prefix) == 7
        self.prefix = prefix
        self.next = 1

    def take(self):
        n = self.next
        self.next += 1
        assert n <= 9999
        return f"{self.prefix}{n:04d}"


MEMBER_PHONES = PhoneRange("1390000")
PAIR_PHONES = PhoneRange("1380000")
ORG_PHONES = PhoneRange("1370000")
INFLOW_PHONES = PhoneRange("1360000")
STRANGER_PHONES = PhoneRange("1350000")
NEW_PHONES = PhoneRange("1390001")

# --------------------------------------------------------------------------------------------
# Organizations (parents before children)

orgs = []
org_by_id = {}
branch_committee = {}  # branch id -> [secretary, committee member, ...] as contacts


def add_org(id, name, kind, parent_id, region_code, contact, chat=None, geo=None):
    o = {"id": id, "name": name, "kind": kind, "parent_id": parent_id,
         "region_code": region_code, "contact": contact}
    if chat is not None:
        o["chat"] = chat
    if geo is not None:
        o["geo"] = geo
    orgs.append(o)
    org_by_id[id] = o
    return o


def org_contact():
    return {"name": person_name(), "phone": ORG_PHONES.take()}


COUNTY_CODE = "522636"
COUNTY = "丹溪县"
add_org("dz-county", f"中共{COUNTY}委组织部", "department", None, COUNTY_CODE, org_contact())

TOWNSHIPS = [
    # id suffix, name, 9-digit code, villages
    ("t01", "云雀镇", "522636100", ["青山村", "龙井村", "白岩村", "羊排村"]),
    ("t02", "石桥镇", "522636101", ["石桥社区", "高坡村", "麻鸟村"]),
    ("t03", "枫林乡", "522636200", ["枫林村", "岩寨村", "排告村", "翁岗村"]),
]
CHAT_BRANCHES = {"dz-t01-b01", "dz-t02-b01", "dz-t03-b02"}

branches = []
for t_suffix, t_name, t_code, villages in TOWNSHIPS:
    t_id = f"dz-{t_suffix}"
    add_org(t_id, f"中共{COUNTY}{t_name}委员会", "committee", "dz-county", t_code, org_contact())
    for i, village in enumerate(villages, start=1):
        b_id = f"{t_id}-b{i:02d}"
        v_code = f"{t_code}{200 + i:03d}" if not village.endswith("社区") else f"{t_code}{i:03d}"
        committee = [{"name": person_name(), "phone": PAIR_PHONES.take()}
                     for _ in range(rng.choice([2, 3, 3]))]
        branch_committee[b_id] = committee
        chat = None
        if b_id in CHAT_BRANCHES:
            chat = {"provider": "wecom",
                    "webhook": f"http://127.0.0.1:9/cgi-bin/webhook/send?key=demo-{b_id}",
                    "secret": None}
        add_org(b_id, f"中共{t_name}{village}支部委员会", "branch", t_id, v_code,
                dict(committee[0]), chat=chat)
        branches.append(b_id)

CITIES = {
    "gz": {
        "dept": ("gz-tianhe", "中共广州市天河区委组织部", "440106"),
        "inflow": [
            ("gz-th-park", "中共天河软件园流动党员委员会", "committee", "440106013"),
            ("gz-th-fb01", "天河区流动党员第一联合支部委员会", "flow_branch", "440106009"),
        ],
        "stations": [
            ("gz-th-s01", "天河区流动党员服务站（石牌）", "440106002", (113.3395, 23.1352)),
            ("gz-th-s02", "天河区流动党员服务站（棠下）", "440106014", (113.3781, 23.1436)),
            ("gz-th-s03", "天河区流动党员服务站（长兴）", "440106019", (113.3712, 23.1857)),
        ],
        "streets": ["440106002", "440106009", "440106013", "440106014", "440106017", "440106019"],
        "roads": ["天河北路", "黄埔大道西", "中山大道西", "科韵路", "天府路", "棠安路", "龙口西路", "员村二横路"],
        "prefix": "广州市天河区",
    },
    "hz": {
        "dept": ("hz-xiaoshan", "中共杭州市萧山区委组织部", "330109"),
        "inflow": [
            ("hz-xs-park", "中共萧山经济技术开发区流动党员委员会", "committee", "330109100"),
            ("hz-xs-fb01", "萧山区流动党员第一联合支部委员会", "flow_branch", "330109004"),
        ],
        "stations": [
            ("hz-xs-s01", "萧山区流动党员服务站（城厢）", "330109001", (120.2652, 30.1592)),
            ("hz-xs-s02", "萧山区流动党员服务站（北干）", "330109002", (120.2788, 30.1841)),
            ("hz-xs-s03", "萧山区流动党员服务站（开发区）", "330109100", (120.2506, 30.2087)),
        ],
        "streets": ["330109001", "330109002", "330109003", "330109004", "330109100"],
        "roads": ["市心北路", "金城路", "建设一路", "鸿宁路", "通惠中路", "山阴路", "启迪路"],
        "prefix": "杭州市萧山区",
    },
}
inflow_contacts = {}  # inflow org id -> its contact
for key, city in CITIES.items():
    d_id, d_name, d_code = city["dept"]
    add_org(d_id, d_name, "department", None, d_code, org_contact())
    for o_id, o_name, kind, code in city["inflow"]:
        c = {"name": person_name(), "phone": INFLOW_PHONES.take()}
        inflow_contacts[o_id] = c
        add_org(o_id, o_name, kind, d_id, code, dict(c))
    for s_id, s_name, code, (lon, lat) in city["stations"]:
        add_org(s_id, s_name, "station", d_id, code, org_contact(), geo={"lon": lon, "lat": lat})

# --------------------------------------------------------------------------------------------
# Members

N_MEMBERS = 300
weights = [rng.randint(18, 36) for _ in branches]
members = []
member_by_id = {}
for i in range(1, N_MEMBERS + 1):
    b = rng.choices(branches, weights=weights)[0]
    joined = dt.date(rng.randint(1978, 2024), rng.randint(1, 12), rng.randint(1, 28))
    pair = rng.choice(branch_committee[b])
    m = {"id": f"m-{i:04d}", "name": person_name(), "phone": MEMBER_PHONES.take(),
         "home_org_id": b, "joined_party_on": joined.isoformat(),
         "pair": dict(pair), "channels": ["sms"]}
    members.append(m)
    member_by_id[m["id"]] = m

# --------------------------------------------------------------------------------------------
# Employers at the destinations (invented)

EMPLOYERS = {
    "gz": [
        ("穗星信息科技有限公司", "private"), ("羊城智联软件有限公司", "private"),
        ("天河建工集团第三工程有限公司", "state_owned"), ("南粤物流股份有限公司", "private"),
        ("华南城市服务集团有限公司", "state_owned"), ("珠江电子商务产业园管理有限公司", "private"),
        ("天河区某街道社区卫生服务中心", "institution"), ("棠下社区居民委员会", "community"),
        ("员村餐饮店（个体）", "self_employed"), ("岭南装饰工程有限公司", "private"),
    ],
    "hz": [
        ("钱塘汽配制造有限公司", "private"), ("萧然纺织印染有限公司", "private"),
        ("湘湖建设发展集团有限公司", "state_owned"), ("之江跨境电商产业园有限公司", "private"),
        ("萧山区某职业技术学校", "institution"), ("北干街道某社区居民委员会", "community"),
        ("城厢小商品摊位（个体）", "self_employed"), ("杭港精密机械有限公司", "private"),
        ("萧山机场地勤服务有限公司", "state_owned"),
    ],
}


def location(city_key, employer=None, employer_type=None, no_employer=False):
    city = CITIES[city_key]
    if employer is None and not no_employer:
        employer, employer_type = rng.choice(EMPLOYERS[city_key])
    loc = {"region_code": rng.choice(city["streets"]),
           "address": f"{city['prefix']}{rng.choice(city['roads'])}{rng.randint(1, 399)}号"}
    if no_employer:
        loc["address"] += "附近出租屋"
        loc["employer_type"] = employer_type or "other"
    else:
        loc["employer"] = employer
        loc["employer_type"] = employer_type
    return loc


# --------------------------------------------------------------------------------------------
# The story

events = []


def at(day, hour_lo=8, hour_hi=18):
    """A time on `day` (a date), Asia/Shanghai, in office hours."""
    return dt.datetime(day.year, day.month, day.day, rng.randint(hour_lo, hour_hi - 1),
                       rng.randrange(0, 60), rng.randrange(0, 60), tzinfo=TZ)


def user_of(org_id):
    return f"{pinyin_of(org_by_id[org_id]['contact']['name'])}.{org_id.split('-')[-1]}"


def emit(type_, when, org_id, data):
    events.append({
        "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "type": type_,
        "schema_version": 1,
        "occurred_at": when,
        "actor": {"org_id": org_id, "user": user_of(org_id)},
        "data": data,
    })


def day(s):
    return dt.date.fromisoformat(s)


def plus(d, days):
    return d + dt.timedelta(days=days)


# Who does what. Lists, not sets, so the order never depends on hashing.
shuffled = members[:]
rng.shuffle(shuffled)
outbound = shuffled[:80]
unreported = shuffled[80:83]  # left without telling the branch; turn up at an inflow org
by_member = {}  # member id -> facts for the later events

# 1. Outbound registrations after the Spring Festival (2026-02-17): the wave leaves between
#    the 6th day of the new year and mid-April.
departures = sorted(rng.randint(0, 57) for _ in outbound)
transfer_candidates = []
for m, offset in zip(outbound, departures):
    left_on = plus(day("2026-02-22"), offset)
    city_key = "gz" if rng.random() < 0.55 else "hz"
    city = CITIES[city_key]
    reason = rng.choices(["work", "business", "study", "other"], weights=[70, 15, 7, 8])[0]
    long_stay = rng.random() < 0.45
    expected = rng.randint(12, 24) if long_stay else rng.randint(3, 6)
    no_employer = False
    if reason == "study":
        emp = [e for e in EMPLOYERS[city_key] if e[1] == "institution"][0]
        dest = location(city_key, *emp)
    elif reason == "other" and rng.random() < 0.6:
        no_employer = True  # flexible work, no fixed employer: the certificate case
        dest = location(city_key, employer_type=rng.choice(["self_employed", "other"]), no_employer=True)
    else:
        dest = location(city_key)
    data = {"member_id": m["id"], "left_on": left_on.isoformat(), "reason": reason,
            "expected_months": expected, "destination": dest}
    inflow_org = rng.choice(city["inflow"])[0]
    if rng.random() < 0.6:
        dest["inflow_org_id"] = inflow_org
        if rng.random() < 0.5:
            data["inflow_contact"] = dict(inflow_contacts[inflow_org])
    elif rng.random() < 0.4:
        data["inflow_contact"] = {"name": person_name(), "phone": INFLOW_PHONES.take()}
    when = at(plus(left_on, rng.randint(0, 3)))
    emit("registration.outbound", when, m["home_org_id"], data)
    by_member[m["id"]] = {"city": city_key, "inflow_org": dest.get("inflow_org_id", inflow_org),
                          "dest": dest, "left_on": left_on, "last": when,
                          "expected": expected, "checked_in": False}
    if long_stay and not no_employer and dest["employer_type"] in ("private", "state_owned"):
        transfer_candidates.append(m)

# 2. Arrivals (报到): 35 of the registered members check in with the destination inflow org.
arrivals = rng.sample(outbound, 35)
for m in arrivals:
    f = by_member[m["id"]]
    arrived_on = plus(f["left_on"], rng.randint(1, 3))
    when = at(plus(arrived_on, rng.randint(1, 10)))
    if when <= f["last"]:
        when = f["last"] + dt.timedelta(hours=2)
    loc = {k: v for k, v in f["dest"].items() if k != "inflow_org_id"}
    emit("registration.inbound", when, f["inflow_org"],
         {"member_id": m["id"], "arrived_on": arrived_on.isoformat(), "location": loc})
    f.update(last=when, checked_in=True)

# 3 unreported departures: an inflow org knows them only by name and phone.
for m in unreported:
    city_key = rng.choice(["gz", "hz"])
    org_id = rng.choice(CITIES[city_key]["inflow"])[0]
    arrived_on = plus(day("2026-03-02"), rng.randint(0, 30))
    emit("registration.inbound", at(plus(arrived_on, rng.randint(2, 8))), org_id,
         {"member": {"name": m["name"], "phone": m["phone"]},
          "arrived_on": arrived_on.isoformat(), "location": location(city_key)})

# 2 arrivals who match no member at all (another county's members): the "unmatched" list.
for _ in range(2):
    city_key = rng.choice(["gz", "hz"])
    org_id = rng.choice(CITIES[city_key]["inflow"])[0]
    arrived_on = plus(day("2026-03-10"), rng.randint(0, 25))
    emit("registration.inbound", at(plus(arrived_on, rng.randint(1, 6))), org_id,
         {"member": {"name": person_name(), "phone": STRANGER_PHONES.take()},
          "arrived_on": arrived_on.isoformat(), "location": location(city_key)})

# Who ends the story how. Disjoint groups, so no member's events cross.
rng.shuffle(transfer_candidates)
transfers = transfer_candidates[:3]
rest = [m for m in outbound if m not in transfers]
short = [m for m in rest if by_member[m["id"]]["expected"] <= 6]
permanent_returns = short[:2]
rest = [m for m in rest if m not in permanent_returns]
settled = [m for m in rest if by_member[m["id"]]["last"].date() < day("2026-04-28")]
visits = rng.sample(settled, 3)  # home for the May Day holiday, then back to work
rest = [m for m in rest if m not in visits]
checked = [m for m in rest if by_member[m["id"]]["checked_in"]]
unchecked = [m for m in rest if not by_member[m["id"]]["checked_in"]]
updaters = rng.sample(checked, 9) + rng.sample(unchecked, 6)
rest = [m for m in rest if m not in updaters]
talked = rng.sample(rest, 7)

# 3. Monthly updates (一月一更新), May and early June.
kinds = ["confirmed"] * 6 + ["location"] * 5 + ["phone"] * 4
rng.shuffle(kinds)
for m, kind in zip(updaters, kinds):
    f = by_member[m["id"]]
    when = at(plus(day("2026-05-01"), rng.randint(0, 40)))
    if when <= f["last"]:
        when = f["last"] + dt.timedelta(days=1)
    actor = f["inflow_org"] if f["checked_in"] and rng.random() < 0.6 else m["home_org_id"]
    data = {"member_id": m["id"]}
    if kind == "confirmed":
        data["confirmed_unchanged"] = True
    elif kind == "location":
        data["location"] = location(f["city"])
    else:
        data["phone"] = NEW_PHONES.take()
    emit("registration.update", when, actor, data)
    f["last"] = when

# 4. Returns: three visits home over May Day (凡回乡必见面: the pair meets them), two for good.
for m in visits:
    f = by_member[m["id"]]
    returned_on = plus(day("2026-04-30"), rng.randint(0, 2))
    when = at(plus(returned_on, 1))
    emit("registration.return", when, m["home_org_id"],
         {"member_id": m["id"], "returned_on": returned_on.isoformat(), "permanent": False})
    met_on = plus(returned_on, rng.randint(1, 2))
    emit("contact.recorded", at(met_on, 19, 21), m["home_org_id"],
         {"member_id": m["id"], "kind": "home_meeting", "on": met_on.isoformat(),
          "by": m["pair"]["name"]})
for m in permanent_returns:
    f = by_member[m["id"]]
    returned_on = plus(day("2026-06-12"), rng.randint(0, 10))
    emit("registration.return", at(plus(returned_on, rng.randint(1, 3))), m["home_org_id"],
         {"member_id": m["id"], "returned_on": returned_on.isoformat(), "permanent": True})

# 5. Transfers (应转尽转): long stays with a fixed employer move their relationship.
for m in transfers:
    f = by_member[m["id"]]
    transferred_on = plus(day("2026-06-15"), rng.randint(0, 12))
    emit("registration.transfer", at(plus(transferred_on, rng.randint(1, 3))), m["home_org_id"],
         {"member_id": m["id"], "transferred_on": transferred_on.isoformat(),
          "new_org_name": f"中共{f['dest']['employer']}支部委员会"})

# 6. Contacts: the quarter's talks (一季度一谈心), phone calls and a family visit.
contact_kinds = ["talk", "talk", "talk", "phone", "phone", "family_visit", "talk"]
for m, kind in zip(talked, contact_kinds):
    f = by_member[m["id"]]
    on = plus(day("2026-04-01"), rng.randint(0, 60))
    if on <= f["last"].date():
        on = plus(f["last"].date(), 1)
    by = m["pair"]["name"] if kind != "family_visit" else branch_committee[m["home_org_id"]][0]["name"]
    emit("contact.recorded", at(plus(on, rng.randint(0, 1)), 18, 21) if kind != "family_visit"
         else at(on), m["home_org_id"],
         {"member_id": m["id"], "kind": kind, "on": on.isoformat(), "by": by})

events.sort(key=lambda e: e["occurred_at"])
for e in events:
    e["occurred_at"] = e["occurred_at"].isoformat(timespec="seconds")

# --------------------------------------------------------------------------------------------
# Checks: DESIGN.md section 2's field rules and each member's order

ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
PHONE = re.compile(r"^1[3-9]\d{9}$")
REGION = re.compile(r"^(\d{6}|\d{9}|\d{12})$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
EMPLOYER_TYPES = {"government", "institution", "state_owned", "private", "self_employed",
                  "community", "village", "other"}


def check(cond, what):
    if not cond:
        sys.exit(f"gen-demo: check failed: {what}")


def check_contact(c, what):
    check(c["name"] and PHONE.match(c["phone"]), f"{what}: contact {c}")


def check_location(loc, what):
    check(REGION.match(loc["region_code"]), f"{what}: region {loc}")
    check(loc["address"], f"{what}: address")
    check(loc["employer_type"] in EMPLOYER_TYPES, f"{what}: employer_type")


seen = set()
for o in orgs:
    check(ID.match(o["id"]) and o["id"] not in seen, f"org id {o['id']}")
    check(o["parent_id"] is None or o["parent_id"] in seen, f"parent before child: {o['id']}")
    check(REGION.match(o["region_code"]), f"org region {o['id']}")
    if o["parent_id"]:
        check(o["region_code"].startswith(org_by_id[o["parent_id"]]["region_code"]),
              f"region inside parent's: {o['id']}")
    check_contact(o["contact"], o["id"])
    seen.add(o["id"])
phones = set()
for m in members:
    check(ID.match(m["id"]) and m["home_org_id"] in branches, f"member {m['id']}")
    check(PHONE.match(m["phone"]) and m["phone"] not in phones, f"member phone {m['id']}")
    phones.add(m["phone"])
    check(DATE.match(m["joined_party_on"]), "joined_party_on")
    check_contact(m["pair"], m["id"])
check(len({m["name"] for m in members}) == len(members), "member names unique")

state = {}  # member id -> "out" | "closed"
event_ids = set()
for e in events:
    check(e["event_id"] not in event_ids and uuid.UUID(e["event_id"]).version == 4, "event id")
    event_ids.add(e["event_id"])
    d, t, actor = e["data"], e["type"], e["actor"]["org_id"]
    when = dt.datetime.fromisoformat(e["occurred_at"]).date()
    for k in ("left_on", "arrived_on", "returned_on", "transferred_on", "on"):
        if k in d:
            check(DATE.match(d[k]) and day(d[k]) <= when, f"{t}: {k} not after occurred_at")
    if "location" in d:
        check_location(d["location"], t)
    if "phone" in d:
        check(PHONE.match(d["phone"]), f"{t}: phone")
    if "inflow_contact" in d:
        check_contact(d["inflow_contact"], t)
    mid = d.get("member_id")
    if t == "registration.outbound":
        check(state.get(mid) is None, f"outbound twice: {mid}")
        check(actor == member_by_id[mid]["home_org_id"], f"outbound actor: {mid}")
        check_location(d["destination"], t)
        check(d["destination"]["region_code"][:6] in ("440106", "330109"), "destination city")
        check(d["destination"]["region_code"] and len(d["destination"]["region_code"]) == 9, "9 digits")
        check(d["reason"] in ("work", "business", "study", "other"), "reason")
        state[mid] = "out"
    elif t == "registration.inbound":
        check(org_by_id[actor]["kind"] in ("committee", "flow_branch"), "inbound actor")
        check(d["location"]["region_code"].startswith(org_by_id[org_by_id[actor]["parent_id"]]["region_code"]),
              "arrival in the inflow org's district")
        if mid:
            check(state.get(mid) == "out", f"inbound before outbound, or twice: {mid}")
            state[mid] = "checked_in"
        else:
            check(PHONE.match(d["member"]["phone"]), "inbound phone")
    elif t in ("registration.update", "contact.recorded", "registration.return",
               "registration.transfer"):
        check(state.get(mid) in ("out", "checked_in", "home_visit"),
              f"{t} for {mid} with no open record")
        if t == "registration.return" and d["permanent"] or t == "registration.transfer":
            state[mid] = "closed"
        elif t == "registration.return":
            state[mid] = "home_visit"
unreported_phones = {m["phone"] for m in unreported}
for e in events:
    p = e["data"].get("member", {}).get("phone")
    if p in unreported_phones:
        check(state.get(next(m["id"] for m in unreported if m["phone"] == p)) is None,
              "an unreported departure never registered outbound")

# --------------------------------------------------------------------------------------------
# Write


def write_jsonl(name, rows):
    with open(os.path.join(OUT, name), "w", encoding="utf-8", newline="\n") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


counts = {}
for e in events:
    counts[e["type"]] = counts.get(e["type"], 0) + 1
kinds_count = {}
for o in orgs:
    kinds_count[o["kind"]] = kinds_count.get(o["kind"], 0) + 1

README = f"""# The demo city

An invented home county, 丹溪县 (region code 522636, id `dz-county`), with 3 townships and
{len(branches)} village branches, and the two places its members go to work: Guangzhou Tianhe
(440106, `gz-tianhe`) and Hangzhou Xiaoshan (330109, `hz-xiaoshan`), each with an industrial-park
party committee, a joint flow branch and three service stations with WGS-84 coordinates. Three
branches have a WeCom robot pointing at a dead local port (`127.0.0.1:9`).

Every name, phone, employer and address is invented. Phones sit in obviously fake ranges:
139 0000 xxxx members, 138 0000 xxxx branch committee members (the pairs, 一对一联),
137 0000 xxxx other org contacts, 136 0000 xxxx inflow-side contacts, 135 0000 xxxx people
who are no member, 139 0001 xxxx numbers members change to.

The files are generated, not edited: `python3 scripts/gen-demo.py` from the workspace root
(standard library only, fixed seed, same bytes every run; it checks DESIGN.md section 2's field
rules and each member's event order before writing).

- `orgs.jsonl`: {len(orgs)} `org.upserted` payloads, parents first ({', '.join(f'{v} {k}' for k, v in kinds_count.items())}).
- `members.jsonl`: {len(members)} `member.upserted` payloads.
- `events.jsonl`: {len(events)} full envelopes in time order ({', '.join(f'{v} {k}' for k, v in counts.items())}).

`hongyan import --orgs config/demo/orgs.jsonl --members config/demo/members.jsonl` loads the
city; the events can then be published to `hongyan.events` (or POSTed to `/v1/events`) one by one.

The story (spring 2026): after the Spring Festival the branches register 80 members leaving for
Tianhe and Xiaoshan (short stays of 3-6 months, which get an activity certificate, and long stays
of 12-24 months; a few with no fixed employer). 35 of them check in with the inflow
organizations; 3 members who never told their branch turn up there by name and phone
(unreported departures) and 2 arrivals match no member at all (the unmatched list). In May and
June 15 monthly updates come in (confirmations, new addresses, new phones); 3 members visit home
over May Day and their paired committee member meets them; 2 come home for good; 3 long stays
with a fixed employer transfer their relationship; the branches record the quarter's talks,
phone calls and a family visit. The members who left and were never heard of again are what the
staleness ladder and the dispatch report should show.
"""

os.makedirs(OUT, exist_ok=True)
write_jsonl("orgs.jsonl", orgs)
write_jsonl("members.jsonl", members)
write_jsonl("events.jsonl", events)
with open(os.path.join(OUT, "README.md"), "w", encoding="utf-8", newline="\n") as f:
    f.write(README)

print(f"gen-demo: {len(orgs)} orgs, {len(members)} members, {len(events)} events: "
      + ", ".join(f"{k} {v}" for k, v in counts.items()))
