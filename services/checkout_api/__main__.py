from services.checkout_api.app import create_app
from services.checkout_api.typedefs import SERVICE
from shared.http.main import serve

if __name__ == "__main__":
    serve(SERVICE, create_app, lambda settings: settings.checkout_api_port)
