from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt
def login(request):
    request.session["user"] = request.POST["user"]
    request.session["cart"] = []
    return HttpResponse("ok")


def me(request):
    return JsonResponse(
        {"user": request.session.get("user"), "cart": request.session.get("cart")}
    )


@csrf_exempt
def add_to_cart(request):
    request.session["cart"] = request.session.get("cart", []) + [request.POST["item"]]
    return HttpResponse("ok")


@csrf_exempt
def cycle(request):
    request.session.cycle_key()
    return HttpResponse("ok")


@csrf_exempt
def logout(request):
    request.session.flush()
    return HttpResponse("ok")


@csrf_exempt
def short(request):
    """A session that lives for one second (set_expiry)."""
    request.session["user"] = request.POST["user"]
    request.session.set_expiry(1)
    return HttpResponse("ok")
