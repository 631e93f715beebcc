"""The five parts of a security-level proposal dossier (Decree 85/2016 Art. 15) for one
information system of the topology, from the topology, the regime and, when given, an audit
report.

The system is a service (by slug) or the services whose `system:` names it; its proposed level
is the highest of theirs (Art. 5: a composite system takes its highest component's level). Its
hosts in the audit report are those named `<service>-<n>`, the naming the lab and the
inventories use. Nothing here reads a host: the audit status and evidence are the report's.
"""

from __future__ import annotations

import re
from collections import Counter

from provdc import diagram
from provdc.audit.checks import checks
from provdc.controls import catalogue
from provdc.diagram.model import ports_text
from provdc.dossier.document import Dossier, Figure, Para, Part, Table
from provdc.dossier.regime import Regime, Requirement, regime
from provdc.errors import ProvdcError
from provdc.topology import retention
from provdc.topology.schema import SLUG, Service
from provdc.topology.validate import Loaded

# Words of the document in both languages: (vi, en).
W = {
    "title": ("Hồ sơ đề xuất cấp độ an toàn hệ thống thông tin", "Security-level proposal dossier"),
    "p1": ("Mô tả hệ thống thông tin", "Description of the information system"),
    "p2": ("Thiết kế hệ thống", "Design of the system"),
    "p3": ("Thuyết minh đề xuất cấp độ", "Justification of the proposed level"),
    "p4": ("Phương án bảo đảm an toàn thông tin theo cấp độ", "Security plan for the level"),
    "p5": ("Ý kiến của chuyên gia, tổ chức chuyên môn", "Expert opinion"),
    "partial": ("một phần: từ tài liệu thứ cấp, cần đối chiếu văn bản gốc",
                "partial: from a secondary source, check against the official text"),
    "unverified": ("chưa kiểm chứng: cần đối chiếu văn bản gốc trước khi trình",
                   "unverified: check against the official text before submission"),
    "verified": ("đã kiểm chứng", "verified"),
    "operator": ("Đơn vị vận hành bổ sung", "For the operator to fill"),
    "not_stated": ("chưa khai báo trong tô-pô (đơn vị vận hành trả lời)",
                   "not stated in the topology (for the operator to answer)"),
    "no_audit": ("chưa có báo cáo kiểm tra", "no audit report given"),
    "not_audited": ("không có kết quả cho máy của hệ thống", "no result on the system's hosts"),
}
FIELDS = [  # classification field -> question (vi, en)
    ("owner", ("Chủ quản hệ thống (Điều 5)", "Owner (Art. 5)")),
    ("users", ("Đối tượng phục vụ", "Who it serves")),
    ("system_class", ("Loại hệ thống (Điều 6)", "System class (Art. 6)")),
    ("information", ("Loại thông tin xử lý (Điều 6)", "Information processed (Art. 6)")),
    ("scope", ("Phạm vi phục vụ", "Scope of service")),
    ("online_service", ("Dịch vụ công trực tuyến (Nghị định 42/2022)",
                        "Online public services (Decree 42/2022)")),
    ("continuous", ("Yêu cầu vận hành 24/7, không ngừng ngoài kế hoạch",
                    "Must run 24/7 with no unplanned downtime")),
    ("national_critical", ("Hệ thống thông tin quan trọng quốc gia",
                           "National-critical information system")),
]

VALUES_VI = {  # the classification's values as the Vietnamese dossier words them
    "internal": "phục vụ hoạt động nội bộ", "public-service": "phục vụ người dân, doanh nghiệp",
    "infrastructure": "hạ tầng thông tin", "industrial-control": "điều khiển công nghiệp",
    "other": "khác", "public": "thông tin công cộng", "private": "thông tin riêng",
    "personal": "thông tin cá nhân", "state-secret": "bí mật nhà nước",
    "agency": "một cơ quan", "province": "các cơ quan trong tỉnh", "sector": "một ngành",
    "national": "toàn quốc", "none": "không", "partial": "một phần", "full": "toàn trình",
}


class Writer:
    """Builds one dossier in one language."""

    def __init__(self, loaded: Loaded, system: str, report: dict | None, lang: str):
        self.loaded, self.topo, self.lang = loaded, loaded.topology, lang
        self.system, self.report = system, report
        self.members = members(loaded, system)
        self.level = max(s.security_level for s in self.members)
        self.regime: Regime = regime(self.topo.province.regime)
        self.zones = list(dict.fromkeys(s.zone for s in self.members))

    def w(self, key: str) -> str:
        return W[key][self.lang == "en"]

    def pick(self, pair) -> str:
        """A vi/en text (a Text model or a tuple)."""
        if isinstance(pair, tuple):
            return pair[self.lang == "en"]
        return pair.en if self.lang == "en" else pair.vi

    def certainty(self, confidence: str) -> str:
        return "" if confidence == "verified" else f" [{self.w(confidence)}]"

    # --- the document -----------------------------------------------------------------

    def write(self) -> Dossier:
        names = ", ".join(s.name for s in self.members)
        parts = [self.description(), self.design(), self.justification(), self.plan(),
                 self.expert()]
        notes = [self.pick((
            f"Chế độ quy định: {self.regime.regime} ({self.regime.title.vi}), bản "
            f"{self.regime.version}. "
            "Các nội dung có đánh dấu [một phần] hoặc [chưa kiểm chứng] chưa được đối chiếu với "
            "văn bản gốc (toàn văn Thông tư 12/2022 và TCVN 11930:2017 không truy cập được); "
            "đơn vị vận hành kiểm tra trước khi trình thẩm định.",
            f"Regime: {self.regime.regime} ({self.regime.title.en}), version "
            f"{self.regime.version}. Wording marked [partial] or [unverified] was not checked "
            "against the official text (the full texts of Circular 12/2022 and TCVN 11930:2017 "
            "were not available); the operator checks it before the dossier is submitted."))]
        if self.level not in self.regime.encoded_levels:
            notes.append(self.pick((
                f"Tệp chế độ quy định chỉ mã hoá ngưỡng của cấp độ "
                f"{', '.join(map(str, self.regime.encoded_levels))}; các yêu cầu của cấp độ "
                f"{self.level} dưới đây là điểm xuất phát, đơn vị vận hành bổ sung.",
                f"The regime file encodes the thresholds of level(s) "
                f"{', '.join(map(str, self.regime.encoded_levels))} only; the requirements below "
                f"are a starting point for level {self.level}, the operator completes them.")))
        return Dossier(self.lang, self.system, self.level, self.w("title"),
                       f"{names} — {self.topo.province.name} — "
                       + self.pick((f"cấp độ đề xuất: {self.level}",
                                    f"proposed level: {self.level}")),
                       notes, parts, self.summary)

    # --- part 1 -----------------------------------------------------------------------

    def description(self) -> Part:
        part = Part(1, self.w("p1"))
        purposes = [f"{s.name}: {s.description}" if s.description else s.name
                    for s in self.members]
        part.add(Para(self.pick(("Mục đích, chức năng: ", "Purpose: ")) + "; ".join(purposes)))
        c = self.classification()
        part.add(Table("general", [self.pick(("Mục", "Item")), self.pick(("Nội dung", "Value"))], [
            [self.pick(("Hệ thống", "System")), self.system],
            [self.pick(("Tỉnh/thành phố", "Province")), self.topo.province.name],
            [self.pick(("Trung tâm dữ liệu", "Data centre")), self.topo.datacenter.name],
            [self.pick(("Chủ quản", "Owner")),
             c.get("owner") or self.w("not_stated")],
            [self.pick(("Người sử dụng", "Users")), c.get("users") or self.w("not_stated")],
            [self.pick(("Vùng mạng", "Zones")), ", ".join(self.zones)],
            [self.pick(("Cấp độ đề xuất", "Proposed level")), str(self.level)],
        ]))
        part.add(Table("services", [self.pick(h) for h in (
            ("Dịch vụ", "Service"), ("Mã", "Slug"), ("Vùng", "Zone"), ("Số bản (HA)", "Instances"),
            ("Cấp độ", "Level"), ("Cổng", "Ports"))],
            [[s.name, s.slug, s.zone, str(s.instances), str(s.security_level),
              ", ".join(map(str, s.ports))] for s in self.members]))
        part.add(Para(self.pick(("Máy chủ", "Hosts")), "h"))
        hosts = self.hosts()
        if hosts:
            facts = (self.report or {}).get("provenance", {}).get("hosts", {})
            part.add(Table("hosts", [self.pick(h) for h in (
                ("Máy", "Host"), ("Hệ điều hành", "OS"), ("Nhân", "Kernel"))],
                [[h, str(facts.get(h, {}).get("os_release", "")),
                  str(facts.get(h, {}).get("kernel", ""))] for h in hosts]))
        else:
            part.add(Para(self.pick((
                "Chưa có báo cáo kiểm tra nêu máy của hệ thống (--audit); mỗi dịch vụ chạy "
                "số bản nêu trên trong vùng của nó.",
                "No audit report names the system's hosts (--audit); each service runs the "
                "instances above in its zone.")), "note"))
        flows = self.flows()
        part.add(Para(self.pick(("Luồng dữ liệu", "Data flows")), "h"),
                 Table("flows", [self.pick(h) for h in (
                     ("Dòng", "Line"), ("Từ", "From"), ("Đến", "To"), ("Giao thức/cổng", "Ports"),
                     ("Ghi chú", "Note"))], [self._flow_row(i, f) for i, f in flows]))
        external = [(i, f) for i, f in flows
                    if {e.split(":")[0] for e in (f.source, f.to)} & {"external", "tier", "site"}]
        part.add(Para(self.pick(("Kết nối bên ngoài", "External connections")), "h"),
                 Table("external", [self.pick(h) for h in (
                     ("Dòng", "Line"), ("Từ", "From"), ("Đến", "To"), ("Giao thức/cổng", "Ports"),
                     ("Ghi chú", "Note"))], [self._flow_row(i, f) for i, f in external]))
        return part

    def _flow_row(self, i: int, f) -> list[str]:
        return [f"flows[{i}]", f.source, f.to, ports_text(f), f.description]

    # --- part 2 -----------------------------------------------------------------------

    def design(self) -> Part:
        part = Part(2, self.w("p2"))
        svg = diagram.render(diagram.build(self.loaded))
        part.add(Figure(svg, f"dossier-{self.system}-network.svg", self.pick((
            "Sơ đồ mạng của trung tâm dữ liệu: các vùng, dịch vụ, luồng được phép và các cấp "
            "mạng TSLCD", "Network diagram of the data centre: zones, services, allowed flows "
            "and the TSLCD tiers"))))
        part.add(Para(self.pick(("Quy hoạch địa chỉ và vùng an toàn",
                                 "Address plan and security zones")), "h"))
        plan = self.loaded.plan
        rows = []
        for z in self.topo.datacenter.zones:
            zp = plan.zone(z.name)
            mine = [s.slug for s in self.members if s.zone == z.name]
            rows.append([z.name, str(zp.cidr), str(zp.gateway),
                         self.pick(("có", "yes")) if z.internet_facing else "",
                         ", ".join(mine), z.description])
        part.add(Table("zones", [self.pick(h) for h in (
            ("Vùng", "Zone"), ("Dải địa chỉ", "CIDR"), ("Cổng mặc định", "Gateway"),
            ("Kết nối Internet", "Internet-facing"), ("Dịch vụ của hệ thống", "System's services"),
            ("Mô tả", "Description"))], rows))
        part.add(Para(self.pick(("Đường giám sát về SOC", "Monitoring path to the SOC")), "h"))
        part.add(*self.monitoring())
        return part

    def monitoring(self) -> list:
        soc = self.topo.operations.soc
        collector = next((s for s in self.topo.services if s.slug == soc.collector_service), None)
        if collector is None:
            return [Para(self.pick(("Tô-pô không có dịch vụ thu thập nhật ký (SOC).",
                                    "The topology has no SOC collector service.")), "note")]
        port = self.topo.operations.syslog_port
        rows = []
        for zone in self.zones:
            line = next((f"flows[{i}]" for i, f in enumerate(self.topo.flows)
                         if f.to == f"service:{collector.slug}" and port in f.ports
                         and f.source in (f"zone:{zone}",
                                          *(f"service:{s.slug}" for s in self.members))), None)
            if zone == collector.zone:
                line = self.pick(("cùng vùng", "same zone"))
            rows.append([zone, f"{collector.slug} ({collector.zone})", f"RELP/TLS tcp/{port}",
                         line or self.pick(("THIẾU trong ma trận luồng",
                                            "MISSING from the flow matrix"))])
        out: list = [Table("monitoring", [self.pick(h) for h in (
            ("Vùng", "Zone"), ("Bộ thu thập", "Collector"), ("Giao thức", "Protocol"),
            ("Dòng cho phép", "Allowed by"))], rows)]
        up = soc.upstream
        days = retention.retention_days(self.topo.max_security_level, soc.retention_days,
                                        self.loaded.path)
        out.append(Para(self.pick((
            f"Chuyển tiếp: {collector.slug} → "
            + (f"{up.name} {up.host}:{up.port} ({up.protocol}, từ mức {up.min_severity})"
               if up else "không cấu hình kết nối lên trên")
            + f"; lưu giữ sự kiện: {days} ngày.",
            f"Onward: {collector.slug} → "
            + (f"{up.name} {up.host}:{up.port} ({up.protocol}, {up.min_severity} and above)"
               if up else "no upstream configured")
            + f"; events kept {days} days."))))
        return out

    # --- part 3 -----------------------------------------------------------------------

    def justification(self) -> Part:
        part = Part(3, self.w("p3"))
        crit = self.regime.levels[self.level]
        part.add(Para(self.pick((f"Cấp độ đề xuất: {self.level}",
                                 f"Proposed level: {self.level}")), "h"))
        if len(self.members) > 1:
            part.add(Para(self.pick((
                "Hệ thống gồm nhiều thành phần; cấp độ là cấp độ cao nhất của các thành phần "
                "(Điều 5 Nghị định 85/2016).",
                "The system has several components; its level is the highest of theirs "
                "(Decree 85/2016 Art. 5)."))))
        part.add(Para(self.pick((f"Tiêu chí cấp độ {self.level} ({crit.article}): ",
                                 f"Criteria of level {self.level} ({crit.article}): "))
                      + self.pick(crit.text) + self.certainty(crit.confidence)))
        rows = []
        for s in self.members:
            answers = s.classification.model_dump() if s.classification else {}
            index = self.topo.services.index(s)
            for key, question in FIELDS:
                value = answers.get(key)
                shown = self._answer(value) if s.classification else self.w("not_stated")
                rows.append([s.slug, self.pick(question), shown,
                             f"services[{index}].classification.{key}"])
        part.add(Table("answers", [self.pick(h) for h in (
            ("Dịch vụ", "Service"), ("Tiêu chí", "Criterion"), ("Trả lời", "Answer"),
            ("Nguồn (tô-pô)", "Source (topology)"))], rows))
        indicated = self.indicated_level()
        if indicated is None:
            part.add(Para(self.pick((
                "Tô-pô chưa trả lời các tiêu chí; đơn vị vận hành bổ sung (khóa classification "
                "của dịch vụ).", "The topology does not answer the criteria yet; the operator "
                "adds them (the service's classification key).")), "note"))
        elif indicated != self.level:
            part.add(Para(self.pick((
                f"Các câu trả lời cho thấy cấp độ {indicated}, tô-pô khai báo cấp độ "
                f"{self.level}: đơn vị vận hành xem xét lại.",
                f"The answers indicate level {indicated} while the topology declares level "
                f"{self.level}: the operator reviews one of them.")), "note"))
        else:
            part.add(Para(self.pick((
                f"Các câu trả lời phù hợp với cấp độ {self.level}.",
                f"The answers agree with level {self.level}."))))
        rules = self.regime.dossier
        part.add(Para(self.pick(rules.approval) + self.certainty(rules.approval_confidence)))
        return part

    def _answer(self, value) -> str:
        if value is None or value == "" or value == []:
            return self.w("not_stated")
        if isinstance(value, bool):
            return self.pick(("có", "yes")) if value else self.pick(("không", "no"))
        words = (lambda v: VALUES_VI.get(v, v)) if self.lang == "vi" else str
        if isinstance(value, list):
            return ", ".join(map(words, value))
        return words(value)

    def indicated_level(self) -> int | None:
        """The lowest level the answers require (Decree 85 Arts. 7-11 as the regime words
        them), or None when no service answers."""
        answered = [s.classification for s in self.members if s.classification]
        if not answered:
            return None
        level = 1
        for c in answered:
            if set(c.information) & {"private", "personal"} or c.scope == "agency":
                level = max(level, 2)
            if (c.online_service != "none" or "state-secret" in c.information
                    or c.scope in ("province", "sector")):
                level = max(level, 3)
            if c.continuous or c.scope == "national":
                level = max(level, 4)
            if c.national_critical:
                level = 5
        return level

    def classification(self) -> dict:
        """The first answer of the system's services to each question."""
        out: dict = {}
        for s in self.members:
            if s.classification:
                for key, value in s.classification.model_dump().items():
                    if value and key not in out:
                        out[key] = value
        return out

    # --- part 4 -----------------------------------------------------------------------

    def plan(self) -> Part:
        part = Part(4, self.w("p4"))
        titles = {c.id: c.title for c in catalogue().controls} | \
            {c.id: c.title for c in checks().checks}
        results = self.results()
        rows, counts = [], Counter()
        for req in self.regime.requirements:
            status, evidence = self.status(req, results)
            counts["mapped" if req.implemented_by else "operator"] += 1
            rows.append([
                req.id, self.pick(self.regime.groups[req.group]),
                self.pick(req.text) + self.certainty(req.confidence) + f" ({req.source})",
                "; ".join(f"{i} {self.pick(titles[i])}" for i in req.implemented_by),
                status, evidence,
                self.pick(req.operator) if req.operator else "",
            ])
        part.add(Para(self.pick((
            f"{len(rows)} yêu cầu của cấp độ {self.level}: {counts['mapped']} được kiểm tra tự "
            f"động (một phần hoặc toàn bộ), {counts['operator']} do đơn vị vận hành bổ sung.",
            f"{len(rows)} requirements of level {self.level}: {counts['mapped']} checked "
            f"automatically (in part or in full), {counts['operator']} for the operator alone."))))
        if self.report is None:
            part.add(Para(self.pick((
                "Không có báo cáo kiểm tra (--audit): chưa có trạng thái của các biện pháp.",
                "No audit report (--audit): the measures have no status yet.")), "note"))
        else:
            part.add(Para(self.pick((
                f"Trạng thái theo báo cáo kiểm tra lúc {self.report.get('generated', '?')} "
                f"trên {len(self.hosts())} máy của hệ thống.",
                f"Status from the audit of {self.report.get('generated', '?')} on the "
                f"system's {len(self.hosts())} hosts."))))
        part.add(Table("requirements", [self.pick(h) for h in (
            ("Mã", "Id"), ("Nhóm", "Group"), ("Yêu cầu", "Requirement"),
            ("Biện pháp kiểm tra", "Implemented by"), ("Trạng thái", "Audit status"),
            ("Bằng chứng", "Evidence"), (self.w("operator"), self.w("operator")))], rows))
        self.summary = {"requirements": len(rows), "mapped": counts["mapped"],
                        "operator_only": counts["operator"]}
        return part

    def status(self, req: Requirement, results: list[dict]) -> tuple[str, str]:
        if not req.implemented_by:
            return "—", ""
        if self.report is None:
            return self.w("no_audit"), ""
        mine = [r for r in results if r["control"] in req.implemented_by]
        # a check the system's hosts do not run (the core's zone firewall, the collector's
        # store) is judged on the shared infrastructure that runs it: named as such
        own = {r["control"] for r in mine}
        shared = [r for r in (self.report or {}).get("results", [])
                  if r["control"] in req.implemented_by and r["control"] not in own
                  and self.shared_host(r["host"])]
        mine += shared
        if not mine:
            return self.w("not_audited"), ""
        tally = Counter(r["status"] for r in mine)
        worst = next((s for s in ("fail", "error", "not_checked", "waived", "pass",
                                  "not_applicable") if tally[s]), "pass")
        counted = ", ".join(f"{k} {v}" for k, v in sorted(tally.items()))
        summary = f"{worst.upper()} ({counted})"
        bad = [r for r in mine if r["status"] in ("fail", "error", "waived", "not_checked")]
        evidence = [self._evidence(r) for r in bad[:3]]
        if not bad:
            evidence = [self.pick((f"{len(mine)} kết quả đạt", f"{len(mine)} results pass"))]
        if shared:
            hosts = ", ".join(sorted({f"{r['host']} ({r['control']})" for r in shared}))
            evidence.append(self.pick((f"hạ tầng dùng chung: {hosts}",
                                       f"shared infrastructure: {hosts}")))
        return summary, "; ".join(evidence)

    def _evidence(self, r: dict) -> str:
        wrong = [e for e in r.get("evidence") or [] if not e.get("ok", True)]
        if wrong:
            e = wrong[0]
            return (f"{r['host']} {r['control']}: {e.get('item', '')} "
                    f"expected {e.get('expected', '')!s}, actual {e.get('actual', '')!s}")
        return f"{r['host']} {r['control']}: {r['status']} {r.get('reason', '')}".strip()

    # --- part 5 -----------------------------------------------------------------------

    def expert(self) -> Part:
        part = Part(5, self.w("p5"))
        rules = self.regime.dossier
        if self.level >= rules.expert_opinion_from_level:
            part.add(Para(self.pick((
                f"Bắt buộc từ cấp độ {rules.expert_opinion_from_level} ({rules.article}): "
                "đơn vị vận hành đính kèm ý kiến của chuyên gia hoặc tổ chức chuyên môn.",
                f"Required from level {rules.expert_opinion_from_level} ({rules.article}): "
                "the operator attaches the expert's or specialised organisation's opinion."))
                + self.certainty(rules.confidence), "note"))
        else:
            part.add(Para(self.pick((
                f"Không bắt buộc ở cấp độ {self.level} (bắt buộc từ cấp độ "
                f"{rules.expert_opinion_from_level}, {rules.article}).",
                f"Not required at level {self.level} (required from level "
                f"{rules.expert_opinion_from_level}, {rules.article}).")) +
                self.certainty(rules.confidence)))
        return part

    # --- the system's share of the topology and the report ----------------------------

    def flows(self) -> list[tuple[int, object]]:
        ends = {f"service:{s.slug}" for s in self.members} | {f"zone:{z}" for z in self.zones}
        return [(i, f) for i, f in enumerate(self.topo.flows) if f.source in ends or f.to in ends]

    def hosts(self) -> list[str]:
        if self.report is None:
            return []
        names = {r["host"] for r in self.report.get("results", [])} | \
            set(self.report.get("hosts", []))
        return sorted(h for h in names if any(
            re.fullmatch(rf"{re.escape(s.slug)}-\d+", h) for s in self.members))

    def shared_host(self, host: str) -> bool:
        """A host of the shared infrastructure: an operations service's (SOC collector,
        bastion, NTP, backup) or one no service names (the core, the site gateways); never
        another application's, whose result says nothing about this system."""
        service = next((s for s in self.topo.services
                        if re.fullmatch(rf"{re.escape(s.slug)}-\d+", host)), None)
        return service is None or bool(service.role)

    def results(self) -> list[dict]:
        hosts = set(self.hosts())
        return [r for r in (self.report or {}).get("results", []) if r.get("host") in hosts]


def members(loaded: Loaded, system: str) -> list[Service]:
    """The services of a system: the one with that slug, and those whose `system` names it."""
    topo = loaded.topology
    fix = ("name a service slug or a `system:` of the topology's services: "
           + ", ".join(sorted({s.slug for s in topo.services}
                              | {s.system for s in topo.services if s.system})))
    if not re.fullmatch(SLUG, system):
        raise ProvdcError(f"'{system}' is not a system name (lower-case letters, digits and "
                          "single hyphens)", loaded.path, field="SYSTEM", fix=fix)
    found = [s for s in topo.services if system in (s.slug, s.system)]
    if not found:
        raise ProvdcError(f"no service or system named '{system}'", loaded.path,
                          field="SYSTEM", fix=fix)
    return found


def build(loaded: Loaded, system: str, report: dict | None, lang: str) -> Dossier:
    return Writer(loaded, system, report, lang).write()
