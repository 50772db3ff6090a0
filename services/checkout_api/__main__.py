from services.checkout_api.app import SERVICE, create_app
from shared.http.main import serve

if __name__ == "__main__":
    serve(SERVICE, create_app, lambda settings: settings.checkout_api_port)
