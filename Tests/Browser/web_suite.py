#!/usr/bin/env python3
"""Guild's browser suite: a person's visits to the web front end, in headless Chromium.

Run by scripts/browser-tests.sh against a fresh `guild up`. The owner's set-up goes through the
JSON API (the owner's console is a later issue); everything a visitor or member does goes
through the pages, by clicking and typing. Each page visited is saved as a screenshot at
375 px and 1280 px wide, and checked with axe-core (no serious or critical violation).
"""
import argparse
import json
import os
import re
import sys
import time
import urllib.error
import urllib.request
import uuid

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

def axe_source():
    """axe-core's script. axe-selenium-python bundles axe-core 3.1 (2018), which reports labelled
    inputs as unlabelled in today's Chromium; axe-playwright-python's wheel carries axe-core 4,
    and only its script is used here (injected through Selenium, no Playwright)."""
    import importlib.util
    spec = importlib.util.find_spec("axe_playwright_python")
    if spec is None:
        raise SystemExit("install axe-playwright-python (pip install --no-deps axe-playwright-python) for axe-core 4")
    with open(os.path.join(os.path.dirname(spec.origin), "axe.min.js"), encoding="utf-8") as file:
        return file.read()


AXE = axe_source()

PASSWORD = "correct horse battery"


class Failure(Exception):
    pass


def check(condition, what):
    if not condition:
        raise Failure(what)
    print(f"ok: {what}")


class Api:
    """The JSON API, for what the owner sets up."""

    def __init__(self, base):
        self.base = base

    def call(self, method, path, body=None, token=None, key=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        request.add_header("Accept", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        if key:
            request.add_header("Idempotency-Key", key)
        try:
            with urllib.request.urlopen(request) as response:
                text = response.read().decode()
                return json.loads(text) if text else {}
        except urllib.error.HTTPError as error:
            raise Failure(f"{method} {path}: {error.code} {error.read().decode()}")

    def register(self, email, name):
        answer = self.call("POST", "/api/v1/auth/register", {"email": email, "password": PASSWORD, "displayName": name})
        return answer["tokens"]["accessToken"], answer["user"]["id"]


def seed(api, slug, name):
    """An owner's community: a plan, a coupon, a post with a preview."""
    owner, _ = api.register(f"owner-{slug}@example.com", "Ada")
    community = api.call("POST", "/api/v1/communities", {
        "slug": slug, "name": name, "currency": "CNY", "refundWindowDays": 7,
        "description": "Server-side Swift, from tasks to actors. 从 Task 到 Actor 的服务端 Swift。"}, owner)
    cid = community["id"]
    api.call("PATCH", f"/api/v1/communities/{cid}", {"status": "active"}, owner)
    plan = api.call("POST", f"/api/v1/communities/{cid}/plans",
                    {"name": "Yearly", "priceMinorUnits": 39900, "period": "yearly", "trialDays": 0}, owner)
    api.call("POST", f"/api/v1/communities/{cid}/coupons",
             {"code": "LAUNCH", "kind": "percent", "percentOffBp": 2000, "maxPerUser": 1}, owner)
    post = api.call("POST", f"/api/v1/communities/{cid}/items", {
        "kind": "post", "title": "Why actors", "publish": True, "access": {"mode": "preview"},
        "markdown": "Free: why actors keep state safe.\n\n<!-- more -->\n\nPaid: how reentrancy bites, and what to do."}, owner)
    return {"owner": owner, "id": cid, "slug": slug, "plan": plan["id"], "post": post["id"]}


class Person:
    """One person's browser."""

    def __init__(self, base, shots, language, javascript=True, label="person"):
        options = Options()
        for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     f"--lang={language}", "--window-size=1280,900"):
            options.add_argument(flag)
        options.add_experimental_option("prefs", {
            "intl.accept_languages": language,
            "profile.managed_default_content_settings.javascript": 1 if javascript else 2,
        })
        options.binary_location = "/usr/bin/chromium"
        self.driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        self.driver.set_page_load_timeout(30)
        self.base = base
        self.shots = shots
        self.label = label
        self.javascript = javascript
        self.count = 0

    def close(self):
        self.driver.quit()

    def open(self, path):
        self.driver.get(self.base + path)
        self.visited()

    def visited(self):
        """Screenshots at both widths and the accessibility check, for the page now shown."""
        self.count += 1
        path = re.sub(r"[^a-zA-Z0-9]+", "-", self.driver.current_url.split("//", 1)[-1].split("/", 1)[-1])[:60].strip("-") or "home"
        for width in (375, 1280):
            self.driver.set_window_size(width, 900)
            height = self.driver.execute_script("return document.documentElement.scrollHeight")
            self.driver.set_window_size(width, min(max(height, 600), 4000))
            self.driver.save_screenshot(os.path.join(self.shots, f"{self.label}-{self.count:02d}-{path}-{width}.png"))
        self.driver.set_window_size(1280, 900)
        if self.javascript:
            self.driver.execute_script(AXE)
            results = self.driver.execute_async_script("const done = arguments[arguments.length - 1]; axe.run(document).then(done, e => done({violations: [], error: String(e)}));")
            if results.get("error"):
                raise Failure(f"axe on {self.driver.current_url} failed: {results['error']}")
            bad = [v for v in results["violations"] if v.get("impact") in ("serious", "critical")]
            if bad:
                raise Failure(f"axe on {self.driver.current_url}: " + "; ".join(f"{v['id']}: {v['help']} " + ", ".join(n["html"][:120] for n in v["nodes"][:3]) for v in bad))

    @property
    def text(self):
        return self.driver.find_element(By.TAG_NAME, "body").text

    @property
    def html(self):
        return self.driver.page_source

    def fill(self, field_id, value):
        element = self.driver.find_element(By.ID, field_id)
        element.clear()
        element.send_keys(value)

    def click(self, element):
        """Clicks and waits for the next page to load."""
        old = self.driver.find_element(By.TAG_NAME, "html")
        element.click()
        WebDriverWait(self.driver, 20).until(expected_conditions.staleness_of(old))
        WebDriverWait(self.driver, 20).until(lambda driver: driver.execute_script("return document.readyState") == "complete")
        self.visited()

    def press(self, selector):
        self.click(self.driver.find_element(By.CSS_SELECTOR, selector))

    def follow(self, selector):
        self.click(self.driver.find_element(By.CSS_SELECTOR, selector))


WORDS = {
    "zh-CN": {"find": "发现社群", "signup": "注册", "pay": "支付成功", "paywall": "剩余内容仅对成员开放", "comment": "评论已发布",
              "coupon_bad": "没有这个优惠码", "price": "¥399.00", "discounted": "¥319.20"},
    "en": {"find": "Find a community", "signup": "Sign up", "pay": "Paid.", "paywall": "The rest is for members", "comment": "Your comment is posted",
           "coupon_bad": "There is no coupon with this code", "price": "CNY 399.00", "discounted": "CNY 319.20"},
}


def join_flow(base, shots, api, language, javascript):
    words = WORDS[language]
    slug = f"club-{language.lower()}-{'js' if javascript else 'nojs'}"
    community = seed(api, slug, "Swift Club" if language == "en" else "Swift 俱乐部")
    person = Person(base, shots, language, javascript, label=f"{language}-{'js' if javascript else 'nojs'}")
    try:
        # A visitor finds the community from /.
        person.open("/")
        check(words["find"] in person.text, f"[{person.label}] / shows the directory in {language}")
        person.fill("q", "Swift")
        person.press(".search-form button")
        person.follow(f"a[href='/c/{slug}']")
        check(words["price"] in person.text, f"[{person.label}] the landing page shows the plan's price")
        # The free part of the post and the paywall; no paid text.
        person.open(f"/c/{slug}/posts/{community['post']}")
        check(words["paywall"] in person.text and "reentrancy" not in person.html, f"[{person.label}] a visitor sees the preview and the paywall, not the paid part")
        # Join: sign up on the way.
        person.follow(".paywall a.button")
        person.follow("main a[href^='/signup']")
        email = f"{uuid.uuid4().hex[:10]}@example.com"
        person.fill("displayName", "Grace")
        person.fill("email", email)
        person.fill("password", PASSWORD)
        person.press("form.form button[type=submit]")
        check(words["price"] in person.text, f"[{person.label}] after signing up, the checkout shows the quote")
        # A wrong coupon, then the right one.
        person.fill("coupon", "NOPE")
        person.press("button[value=apply]")
        check(words["coupon_bad"] in person.text, f"[{person.label}] a wrong coupon is named beside its field")
        person.fill("coupon", "LAUNCH")
        person.press("button[value=apply]")
        check(words["discounted"] in person.text, f"[{person.label}] the coupon takes 20 % off the quote")
        person.press("button[value=pay]")
        person.press("button[value=succeeded]")
        check(words["pay"] in person.text, f"[{person.label}] the sandbox payment succeeds")
        # The whole post now, and a comment.
        person.open(f"/c/{slug}/posts/{community['post']}")
        check("reentrancy" in person.text, f"[{person.label}] the member reads the paid part")
        person.fill("comment-body", "Thanks — **very** clear.")
        person.press("form[action$='/comments'] button")
        check(words["comment"] in person.text and "very" in person.text, f"[{person.label}] the comment is posted")
    finally:
        person.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True)
    parser.add_argument("--screenshots", required=True)
    args = parser.parse_args()
    os.makedirs(args.screenshots, exist_ok=True)
    api = Api(args.base)
    started = time.time()
    try:
        join_flow(args.base, args.screenshots, api, "zh-CN", javascript=True)
        join_flow(args.base, args.screenshots, api, "en", javascript=True)
        join_flow(args.base, args.screenshots, api, "en", javascript=False)
    except Failure as failure:
        print(f"FAIL: {failure}", file=sys.stderr)
        return 1
    print(f"browser suite passed in {time.time() - started:.0f} s; screenshots in {args.screenshots}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
